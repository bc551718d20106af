import { appendAuditEntry, type Pool } from '@tripwire/storage';
import { ApiError, type RouteContext, route } from './http-route.js';
import { auditActor, SESSION_COOKIE } from './operator-auth.js';

const SESSION_MAX_AGE_S = 30 * 24 * 3600;

/**
 * /api/session, sign-in for the dashboard: the token goes into an HttpOnly
 * cookie, never into page storage. Signing in and out are checked for their origin even
 * without a cookie: a foreign page must not sign a browser in as someone else (login CSRF).
 */
export function registerSessionApi(
  ctx: RouteContext,
  { pool, cookieSecure }: { pool: Pool; cookieSecure: boolean },
) {
  route(
    ctx,
    'post',
    '/api/session',
    'any',
    async (req) => {
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string')
        throw new ApiError(400, 'validation_failed', 'token is required', { token: 'is required' });
      const operator = await ctx.auth.verify(token);
      await appendAuditEntry(pool, {
        actor: auditActor(operator),
        action: 'session.create',
        details: { role: operator.role },
      });
      const attributes = `HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MAX_AGE_S}${cookieSecure ? '; Secure' : ''}`;
      return {
        body: { name: operator.name, role: operator.role },
        headers: { 'set-cookie': `${SESSION_COOKIE}=${encodeURIComponent(token)}; ${attributes}` },
      };
    },
    { authenticate: false, alwaysSameOrigin: true },
  );

  route(ctx, 'get', '/api/session', 'any', async (req) => ({
    body: { name: req.operator.name, role: req.operator.role },
  }));

  route(
    ctx,
    'del',
    '/api/session',
    'any',
    async () => ({
      status: 204,
      headers: { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` },
    }),
    { authenticate: false, alwaysSameOrigin: true },
  );
}
