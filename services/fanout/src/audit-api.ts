import { type Pool, queryAuditEntries, verifyAuditChain } from '@tripwire/storage';
import { hostParam, timeRange } from './api-params.js';
import { ApiError, type RouteContext, route } from './http-route.js';
import { perMinute, takeOrRefuse } from './request-rate-limit.js';

/**
 * /api/audit: the hash-chained audit log, and a check of the whole chain. The check reads every
 * entry, so it is for admins only and at most `verifiesPerMinute` (AUDIT_VERIFY_PER_MINUTE) a
 * minute on this instance, all admins together.
 */
export function registerAuditApi(
  ctx: RouteContext,
  { pool, verifiesPerMinute }: { pool: Pool; verifiesPerMinute: number },
) {
  const verifies = perMinute(verifiesPerMinute);
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

  route(ctx, 'get', '/api/audit/verify', 'admin', async () => {
    await takeOrRefuse(
      verifies,
      'chain',
      'too_many_audit_verifications',
      `the audit chain is verified at most ${verifiesPerMinute} times a minute`,
    );
    const v = await verifyAuditChain(pool);
    return { body: { ok: v.ok, checked: v.checked, broken_at: v.brokenAt, reason: v.reason } };
  });
}
