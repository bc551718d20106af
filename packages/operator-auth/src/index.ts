import { jwtVerify, SignJWT } from 'jose';

export type Role = 'viewer' | 'admin';

export interface Operator {
  /** Who: the token's subject, recorded as the actor in the audit log. */
  name: string;
  role: Role;
}

/**
 * How an operator appears in the audit log and on incidents (created_by, note
 * authors): the prefix keeps a token whose subject is, say, "ingest" apart from
 * the ingest service itself.
 */
export const auditActor = (operator: Pick<Operator, 'name'>) => `operator:${operator.name}`;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403,
    readonly reason: string,
  ) {
    super(message);
  }
}

/**
 * Operator tokens are HS256 JWTs (jose): `sub` names the operator, `role` is
 * viewer or admin. The fan-out service (REST, WebSocket) and the ingest
 * service (IncidentService) verify the same tokens with the same secret.
 */
export function createOperatorAuth(secret: string) {
  const key = new TextEncoder().encode(secret);
  return {
    async issue(name: string, role: Role, expiresIn = '30d'): Promise<string> {
      return new SignJWT({ role })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(name)
        .setIssuedAt()
        .setIssuer('tripwire')
        .setExpirationTime(expiresIn)
        .sign(key);
    },
    async verify(token: string | null): Promise<Operator> {
      if (!token) {
        throw new AuthError(
          'authentication required: send "Authorization: Bearer <token>", ?access_token=, or sign in',
          401,
          'missing_token',
        );
      }
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: 'tripwire',
          algorithms: ['HS256'],
        });
        const role = payload.role;
        if ((role !== 'viewer' && role !== 'admin') || !payload.sub) throw new Error('bad claims');
        return { name: payload.sub, role };
      } catch (err) {
        const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
        throw new AuthError(
          expired ? 'token expired' : 'token is not valid',
          401,
          expired ? 'expired_token' : 'bad_token',
        );
      }
    },
  };
}

export type OperatorAuth = ReturnType<typeof createOperatorAuth>;
