import { type Pool, queryAuditEntries, verifyAuditChain } from '@tripwire/storage';
import { hostParam, timeRange } from './api-params.js';
import { ApiError, type RouteContext, route } from './http-route.js';

/** /api/audit: the hash-chained audit log, and a check of the whole chain. */
export function registerAuditApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  route(ctx, 'get', '/api/audit', 'any', async ({ query }) => {
    const limit = Number(query.get('limit') ?? 500);
    if (!Number.isInteger(limit) || limit < 1 || limit > 5000) {
      throw new ApiError(400, 'invalid_parameter', 'limit must be an integer from 1 to 5000', {
        limit: 'out of range',
      });
    }
    const entries = await queryAuditEntries(pool, {
      ...timeRange(query),
      hostId: hostParam(query),
      limit,
    });
    return {
      body: {
        entries: entries.map((e) => ({
          seq: e.seq,
          occurred_at: e.occurredAt.toISOString(),
          actor: e.actor,
          action: e.action,
          host_id: e.hostId,
          target: e.target,
          details: e.details,
          prev_hash: e.prevHash,
          hash: e.hash,
        })),
      },
    };
  });

  route(ctx, 'get', '/api/audit/verify', 'any', async () => {
    const v = await verifyAuditChain(pool);
    return { body: { ok: v.ok, checked: v.checked, broken_at: v.brokenAt, reason: v.reason } };
  });
}
