import {
  type AuditEntry,
  type Pool,
  queryAuditEntries,
  streamAuditEntries,
  verifyAuditChain,
} from '@tripwire/storage';
import { hostParam, timeRange } from './api-params.js';
import type { Exporter } from './exporter.js';
import { ApiError, type RouteContext, route } from './http-route.js';
import { perMinute, takeOrRefuse } from './request-rate-limit.js';

/**
 * /api/audit: the hash-chained audit log, and a check of the whole chain. The check reads every
 * entry, so it is for admins only and at most `verifiesPerMinute` (AUDIT_VERIFY_PER_MINUTE) a
 * minute on this instance, all admins together.
 */
const auditEntryJson = (e: AuditEntry) => ({
  seq: e.seq,
  occurred_at: e.occurredAt.toISOString(),
  actor: e.actor,
  action: e.action,
  host_id: e.hostId,
  target: e.target,
  details: e.details,
  prev_hash: e.prevHash,
  hash: e.hash,
});

/** The columns of an audit export, in order; in chain order, so the hashes can be rechecked. */
const AUDIT_COLUMNS = [
  'seq',
  'occurred_at',
  'actor',
  'action',
  'host_id',
  'target',
  'details',
  'prev_hash',
  'hash',
] as const;

export function registerAuditApi(
  ctx: RouteContext,
  {
    pool,
    verifiesPerMinute,
    exporter,
  }: { pool: Pool; verifiesPerMinute: number; exporter: Exporter },
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
    return { body: { entries: entries.map(auditEntryJson) } };
  });

  route(ctx, 'get', '/api/audit/export', 'any', async (req) => {
    const filter = { ...timeRange(req.query), hostId: hostParam(req.query) };
    return exporter.serve(req, {
      kind: 'audit',
      columns: AUDIT_COLUMNS,
      toRecord: auditEntryJson,
      filter: {
        from: filter.from.toISOString(),
        to: filter.to.toISOString(),
        host_id: filter.hostId ?? null,
      },
      open: (options) => streamAuditEntries(pool, filter, options),
    });
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
