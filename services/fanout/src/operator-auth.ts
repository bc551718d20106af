export {
  AuthError,
  auditActor,
  createOperatorAuth,
  type Operator,
  type OperatorAuth,
  type Role,
} from '@tripwire/operator-auth';

export const SESSION_COOKIE = 'tw_session';

/** The token from the Authorization header, the access_token query parameter, or the session cookie. */
export function findToken(
  headers: { authorization: string; cookie: string },
  query: URLSearchParams,
): string | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization.trim());
  if (bearer) return bearer[1]!;
  const fromQuery = query.get('access_token');
  if (fromQuery) return fromQuery;
  for (const part of headers.cookie.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE && value.length) return decodeURIComponent(value.join('='));
  }
  return null;
}
