import { parseCookie } from 'cookie';

export {
  AuthError,
  auditActor,
  type Credential,
  createOperatorAuth,
  type Operator,
  type OperatorAuth,
  type Role,
  roleAtLeast,
  type VerifiedOperator,
} from '@tripwire/operator-auth';

export const SESSION_COOKIE = 'tw_session';

/**
 * Where a request's token came from. Only `cookie` is ambient (the browser adds it to a
 * request whatever page makes it), so only it needs the same-origin check (cross-site.ts).
 */
export type TokenSource = 'bearer' | 'query' | 'cookie';

/**
 * The credential and where it came from: an operator JWT or API token in the Authorization
 * header (or, on the WebSocket upgrade only, the access_token query parameter: http-route.ts
 * refuses it on REST), or the session id in the cookie. Null when the request carries none.
 */
export function findCredential(
  headers: { authorization: string; cookie: string },
  query: URLSearchParams,
): { token: string; source: TokenSource } | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization.trim());
  if (bearer) return { token: bearer[1]!, source: 'bearer' };
  const fromQuery = query.get('access_token');
  if (fromQuery) return { token: fromQuery, source: 'query' };
  const token = sessionCookie(headers.cookie);
  return token ? { token, source: 'cookie' } : null;
}

/**
 * The session cookie's value. A value that is not valid percent-encoding (`%E0%A4%A`) is no
 * cookie at all: the request is answered as one without a token, never with an exception.
 */
export function sessionCookie(header: string): string | undefined {
  if (!header) return undefined;
  return parseCookie(header, {
    decode: (value) => {
      try {
        return decodeURIComponent(value);
      } catch {
        return undefined;
      }
    },
  })[SESSION_COOKIE];
}
