// STAND-IN, replaced at merge by the server-side sessions work of issue 14 (which owns this file
// and keeps `startSession`'s signature). It does what POST /api/session does today: an operator
// token in the HttpOnly session cookie. The extra `auth` in its deps is what minting needs here;
// callers pass a prebuilt object, so the real version (without `auth`) accepts the same call.
import type { Pool } from '@tripwire/storage';
import { type Operator, type OperatorAuth, SESSION_COOKIE } from './operator-auth.js';

const SESSION_MAX_AGE_S = 12 * 3600;

/** Signs `operator` in: the Set-Cookie header that carries the new session. */
export async function startSession(
  deps: { pool: Pool; cookieSecure: boolean; auth: OperatorAuth },
  operator: Operator,
): Promise<{ headers: Record<string, string> }> {
  const token = await deps.auth.issue(operator.name, operator.role, `${SESSION_MAX_AGE_S}s`);
  const attributes = `HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MAX_AGE_S}${deps.cookieSecure ? '; Secure' : ''}`;
  return {
    headers: { 'set-cookie': `${SESSION_COOKIE}=${encodeURIComponent(token)}; ${attributes}` },
  };
}
