import {
  type ApiToken,
  appendAuditEntry,
  createApiToken,
  listApiTokens,
  type Pool,
  revokeApiToken,
  withTransaction,
} from '@tripwire/storage';
import { z } from 'zod';
import { credentialName, integerParam, parseBody, UUID } from './api-params.js';
import { ApiError, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

const MAX_TOKEN_NAME_LENGTH = 128;
/** An API token's life when the request names none (or API_TOKEN_MAX_AGE_DAYS if shorter). */
const DEFAULT_TOKEN_DAYS = 90;

const tokenJson = (t: ApiToken) => ({
  token_id: t.tokenId,
  name: t.name,
  role: t.role,
  created_by: t.createdBy,
  created_at: t.createdAt.toISOString(),
  expires_at: t.expiresAt.toISOString(),
  revoked_at: t.revokedAt?.toISOString() ?? null,
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
});

/**
 * /api/api-tokens (admin): tokens for automation, each named, with a role and an expiry,
 * revocable one by one. The token (`twk_…`) is in the creation's answer only; PostgreSQL keeps
 * its hash. Creating and revoking are audited.
 */
export function registerApiTokensApi(
  ctx: RouteContext,
  { pool, maxAgeDays }: { pool: Pool; maxAgeDays: number },
) {
  const schema = z
    .object({
      name: credentialName(MAX_TOKEN_NAME_LENGTH),
      role: z.enum(['viewer', 'responder', 'admin'], {
        message: 'must be viewer, responder or admin',
      }),
      expires_in_days: z
        .number()
        .int('must be a whole number')
        .min(1, 'must be at least 1')
        .max(maxAgeDays, `must be at most ${maxAgeDays} (API_TOKEN_MAX_AGE_DAYS)`)
        .default(Math.min(DEFAULT_TOKEN_DAYS, maxAgeDays)),
    })
    .strict();

  route(ctx, 'get', '/api/api-tokens', 'admin', async ({ query }) => {
    const limit = integerParam(query, 'limit', { min: 1, max: 5000, fallback: 500 });
    return { body: { tokens: (await listApiTokens(pool, limit)).map(tokenJson) } };
  });

  route(ctx, 'post', '/api/api-tokens', 'admin', async (req) => {
    const input = parseBody(schema, req.body, 'API token');
    const created = await withTransaction(pool, async (db) => {
      const made = await createApiToken(db, {
        name: input.name,
        role: input.role,
        createdBy: auditActor(req.operator),
        expiresInS: input.expires_in_days * 86_400,
      });
      await appendAuditEntry(db, {
        actor: auditActor(req.operator),
        action: 'api_token.create',
        target: made.token.tokenId,
        details: {
          name: input.name,
          role: input.role,
          expires_at: made.token.expiresAt.toISOString(),
        },
      });
      return made;
    });
    // The only time the token is shown: it is not stored.
    return { status: 201, body: { ...tokenJson(created.token), token: created.secret } };
  });

  route(ctx, 'del', '/api/api-tokens/:id', 'admin', async (req) => {
    const id = req.params[0] ?? '';
    if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no such API token');
    const revoked = await withTransaction(pool, async (db) => {
      const token = await revokeApiToken(db, id);
      if (token) {
        await appendAuditEntry(db, {
          actor: auditActor(req.operator),
          action: 'api_token.revoke',
          target: id,
          details: { name: token.name },
        });
      }
      return token;
    });
    if (!revoked) throw new ApiError(404, 'not_found', 'no such API token');
    return { body: tokenJson(revoked) };
  });
}
