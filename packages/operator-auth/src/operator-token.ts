import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { AuthError, isRole, type Role } from './operator.js';

/** The longest an operator JWT may live (exp − iat) unless configured: the token CLI's default. */
export const DEFAULT_TOKEN_MAX_AGE_S = 30 * 24 * 3600;
/** Clocks of the minting machine and the server may differ by this much. */
const CLOCK_TOLERANCE_S = 30;

/**
 * Operator JWTs are HS256 (jose): `sub` names the operator, `role` is viewer, responder or admin, and `exp`
 * and `iat` are required: a token that never expires is refused, and so is one minted to live
 * longer than `maxAgeS` (OPERATOR_TOKEN_MAX_AGE_S), so a leaked token dies on its own.
 */
export function createOperatorTokens(secret: string, maxAgeS = DEFAULT_TOKEN_MAX_AGE_S) {
  const key = new TextEncoder().encode(secret);
  return {
    async issue(name: string, role: Role, expiresIn: string | number = '30d'): Promise<string> {
      return new SignJWT({ role })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(name)
        .setIssuedAt()
        .setIssuer('tripwire')
        .setExpirationTime(expiresIn)
        .sign(key);
    },

    /** The token's claims once its signature, issuer, role, exp and lifetime check out. */
    async verify(
      token: string,
    ): Promise<{ name: string; role: Role; issuedAt: number; expiresAt: number }> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          issuer: 'tripwire',
          algorithms: ['HS256'],
          requiredClaims: ['exp', 'iat', 'sub'],
          maxTokenAge: maxAgeS,
          clockTolerance: CLOCK_TOLERANCE_S,
        }));
      } catch (err) {
        throw tokenError(err, maxAgeS);
      }
      const { role, sub, iat, exp } = payload;
      if (!isRole(role) || !sub) {
        throw new AuthError('token is not valid', 401, 'bad_token');
      }
      if (exp! - iat! > maxAgeS) {
        throw new AuthError(
          `the token lives ${exp! - iat!} s, longer than this server allows (OPERATOR_TOKEN_MAX_AGE_S=${maxAgeS}): mint one with a shorter --expires`,
          401,
          'token_lifetime_too_long',
        );
      }
      return { name: sub, role, issuedAt: iat!, expiresAt: exp! };
    },
  };
}

export type OperatorTokens = ReturnType<typeof createOperatorTokens>;

/** A jose failure as the 401 an operator can act on. */
function tokenError(err: unknown, maxAgeS: number): AuthError {
  const { code, claim } = err as { code?: string; claim?: string };
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'exp') {
    return new AuthError(
      'the token has no valid exp: operator tokens must expire (mint one with the token CLI and --expires)',
      401,
      'token_without_expiry',
    );
  }
  if (code === 'ERR_JWT_EXPIRED') {
    // jose reports a token older than maxTokenAge as expired too.
    return claim === 'iat'
      ? new AuthError(
          `the token was issued more than OPERATOR_TOKEN_MAX_AGE_S (${maxAgeS} s) ago`,
          401,
          'expired_token',
        )
      : new AuthError('token expired', 401, 'expired_token');
  }
  return new AuthError('token is not valid', 401, 'bad_token');
}
