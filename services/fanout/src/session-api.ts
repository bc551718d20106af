import type { Pool } from '@tripwire/storage';
import { ApiError, type RouteContext, route } from './http-route.js';
import { perMinute, takeOrRefuse } from './request-rate-limit.js';
import { endSession, startSession } from './session-cookie.js';

export interface SessionApiDeps {
  pool: Pool;
  cookieSecure: boolean;
  /** SESSION_MAX_AGE_S. */
  maxAgeS: number;
  /** SIGN_IN_RATE_LIMIT_PER_MINUTE, per client address. */
  signInsPerMinute: number;
}

/**
 * /api/session, sign-in for the dashboard: a pasted operator token becomes a server-side
 * session whose random id goes into an HttpOnly cookie (session-cookie.ts); the token itself
 * is never stored. Signing in and out are checked for their origin even without a cookie: a
 * foreign page must not sign a browser in as someone else (login CSRF). Attempts are
 * rate-limited per address, which also bounds the `session.create` audit entries.
 */
export function registerSessionApi(ctx: RouteContext, deps: SessionApiDeps) {
  const { pool, cookieSecure } = deps;
  const signIns = perMinute(deps.signInsPerMinute);
  route(
    ctx,
    'post',
    '/api/session',
    'any',
    async (req) => {
      await takeOrRefuse(
        signIns,
        req.address,
        'too_many_sign_ins',
        `at most ${deps.signInsPerMinute} sign-in attempts a minute from one address`,
      );
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string')
        throw new ApiError(400, 'validation_failed', 'token is required', { token: 'is required' });
      const { name, role, credential } = await ctx.auth.verify(token);
      if (credential.kind !== 'jwt') {
        // A session would outlive the API token's revocation; automation sends it as Bearer instead.
        throw new ApiError(
          400,
          'not_an_operator_token',
          'sign in with an operator token; API tokens are for automation (Authorization: Bearer)',
          { token: 'is an API token' },
        );
      }
      // A session never outlives the token it was made from.
      const tokenLeftS = Math.floor((credential.expiresAt.getTime() - Date.now()) / 1000);
      const maxAgeS = Math.min(deps.maxAgeS, tokenLeftS);
      const { headers } = await startSession(
        { pool, cookieSecure, maxAgeS, address: req.address },
        { name, role },
      );
      const expiresAt = new Date(Date.now() + maxAgeS * 1000).toISOString();
      return { body: { name, role, expires_at: expiresAt }, headers };
    },
    { authenticate: false, alwaysSameOrigin: true },
  );

  route(ctx, 'get', '/api/session', 'any', async ({ operator }) => ({
    body: {
      name: operator.name,
      role: operator.role,
      expires_at: operator.credential?.expiresAt.toISOString() ?? null,
    },
  }));

  route(
    ctx,
    'del',
    '/api/session',
    'any',
    async (req) => {
      const { headers } = await endSession({ pool, cookieSecure }, req.headers.cookie);
      return { status: 204, headers };
    },
    { authenticate: false, alwaysSameOrigin: true },
  );
}
