import {
  AuthError,
  apiTokenOperatorName,
  type Operator,
  type Role,
  type VerifiedOperator,
} from './operator.js';
import { createOperatorTokens, DEFAULT_TOKEN_MAX_AGE_S } from './operator-token.js';

export * from './operator.js';
export {
  createOperatorTokens,
  DEFAULT_TOKEN_MAX_AGE_S,
  type OperatorTokens,
} from './operator-token.js';

/**
 * Where revocable credentials live (PostgreSQL: `credentialStore(pool)` in @tripwire/storage).
 * Every lookup reads the table, so a revocation holds on every instance at once.
 */
export interface CredentialStore {
  findLiveSession(
    id: string,
  ): Promise<{ name: string; role: Role; ref: string; expiresAt: Date } | null>;
  findLiveApiToken(
    secret: string,
  ): Promise<{ tokenId: string; name: string; role: Role; expiresAt: Date } | null>;
  operatorRevokedBefore(name: string): Promise<Date | null>;
}

export interface OperatorAuthOptions {
  /** OPERATOR_TOKEN_MAX_AGE_S: the longest exp − iat a JWT may have. */
  tokenMaxAgeS?: number;
  /** Without one, only JWTs are accepted and none is checked for revocation (the CLI, tests). */
  store?: CredentialStore;
}

/** Where a credential was presented: a session id only counts in the cookie. */
export type CredentialSource = 'bearer' | 'query' | 'cookie';

const API_TOKEN_PREFIX = 'twk_';

const missing = () =>
  new AuthError(
    'authentication required: send "Authorization: Bearer <token>" or sign in',
    401,
    'missing_token',
  );

/**
 * Operator credentials, verified the same way by the fan-out (REST, WebSocket) and ingest
 * (IncidentService): a dashboard session (the cookie), an API token (`twk_…`), or an operator
 * JWT that must carry `exp`, live no longer than the configured maximum, and not predate an
 * admin's revoke-all for its operator.
 */
export function createOperatorAuth(secret: string, options: OperatorAuthOptions = {}) {
  const tokens = createOperatorTokens(secret, options.tokenMaxAgeS ?? DEFAULT_TOKEN_MAX_AGE_S);
  const { store } = options;

  const viaSession = async (id: string): Promise<VerifiedOperator> => {
    const session = store ? await store.findLiveSession(id) : null;
    if (!session) {
      throw new AuthError(
        'the session has ended (signed out, expired or revoked): sign in again',
        401,
        'session_ended',
      );
    }
    const { name, role, ref, expiresAt } = session;
    return { name, role, credential: { kind: 'session', ref, expiresAt } };
  };

  const viaApiToken = async (secretToken: string): Promise<VerifiedOperator> => {
    const token = store ? await store.findLiveApiToken(secretToken) : null;
    if (!token) {
      throw new AuthError('the API token is unknown, revoked or expired', 401, 'revoked_token');
    }
    return {
      name: apiTokenOperatorName(token.name),
      role: token.role,
      credential: { kind: 'api_token', ref: token.tokenId, expiresAt: token.expiresAt },
    };
  };

  const viaJwt = async (jwt: string): Promise<VerifiedOperator> => {
    const claims = await tokens.verify(jwt);
    const revokedBefore = store ? await store.operatorRevokedBefore(claims.name) : null;
    // iat has whole seconds: a token from the second of the revocation is refused too.
    if (revokedBefore && claims.issuedAt <= Math.floor(revokedBefore.getTime() / 1000)) {
      throw new AuthError(
        `an admin revoked ${claims.name}'s credentials after this token was issued`,
        401,
        'revoked_token',
      );
    }
    return {
      name: claims.name,
      role: claims.role,
      credential: {
        kind: 'jwt',
        ref: claims.name,
        expiresAt: new Date(claims.expiresAt * 1000),
        issuedAt: new Date(claims.issuedAt * 1000),
      },
    };
  };

  return {
    issue: tokens.issue,
    async verify(
      token: string | null,
      source: CredentialSource = 'bearer',
    ): Promise<VerifiedOperator> {
      if (!token) throw missing();
      if (source === 'cookie') return viaSession(token);
      if (token.startsWith(API_TOKEN_PREFIX)) return viaApiToken(token);
      return viaJwt(token);
    },
  };
}

export type OperatorAuth = ReturnType<typeof createOperatorAuth>;
export type { Operator };
