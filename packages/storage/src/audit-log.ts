import type { AuditEntry } from './models.js';
import type { Pool, Queryable } from './pool.js';
import { mapBatches, type RowCursorOptions, streamRows } from './row-cursor.js';

export interface AuditInput {
  actor: string;
  action: string;
  hostId?: string | null;
  target?: string;
  details?: Record<string, unknown>;
}

interface AuditRow {
  seq: number;
  occurred_at: Date;
  actor: string;
  action: string;
  host_id: string | null;
  target: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const toEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  occurredAt: r.occurred_at,
  actor: r.actor,
  action: r.action,
  hostId: r.host_id,
  target: r.target,
  details: r.details,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * Appends one entry to the hash chain. Inside a caller's transaction the
 * chain stays locked until that transaction ends, so an action and its audit
 * entry commit together.
 */
export async function appendAuditEntry(db: Queryable, input: AuditInput): Promise<AuditEntry> {
  const { rows } = await db.query<AuditRow>(
    'SELECT * FROM append_audit_entry($1, $2, $3, $4, $5)',
    [input.actor, input.action, input.hostId ?? null, input.target ?? '', input.details ?? {}],
  );
  return toEntry(rows[0]!);
}

export interface AuditQuery {
  from: Date;
  to: Date;
  hostId?: string;
  limit?: number;
}

const AUDIT_FILTER =
  'WHERE occurred_at >= $1 AND occurred_at < $2 AND ($3::uuid IS NULL OR host_id = $3)';

/**
 * Every entry in [from, to), optionally for one host, in chain order (so an auditor can
 * recompute the hashes), in batches from a server-side cursor: for exports of any size.
 */
export function streamAuditEntries(
  pool: Pool,
  query: Omit<AuditQuery, 'limit'>,
  options: RowCursorOptions,
): AsyncGenerator<AuditEntry[], void, undefined> {
  const rows = streamRows<AuditRow>(
    pool,
    `SELECT * FROM audit_entries ${AUDIT_FILTER} ORDER BY seq`,
    [query.from, query.to, query.hostId ?? null],
    options,
  );
  return mapBatches(rows, toEntry);
}

/** Entries in [from, to), optionally for one host, in chain order. */
export async function queryAuditEntries(db: Queryable, query: AuditQuery): Promise<AuditEntry[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT * FROM audit_entries ${AUDIT_FILTER} ORDER BY seq LIMIT $4`,
    [query.from, query.to, query.hostId ?? null, query.limit ?? 1000],
  );
  return rows.map(toEntry);
}

export interface ChainVerification {
  ok: boolean;
  /** How many entries were checked. */
  checked: number;
  /** The first entry that does not verify, when ok is false. */
  brokenAt: number | null;
  reason: string | null;
}

/**
 * Recomputes every hash in order. Reports the first entry whose content was
 * changed, whose link to the previous entry is wrong, or that follows a gap.
 */
export async function verifyAuditChain(db: Queryable): Promise<ChainVerification> {
  const { rows } = await db.query<{
    checked: number;
    broken_at: number | null;
    reason: string | null;
  }>(
    `WITH chain AS (
       SELECT seq, hash, prev_hash,
              audit_entry_hash(seq, occurred_at, actor, action, host_id, target, details, prev_hash) AS expected,
              lag(hash) OVER (ORDER BY seq) AS previous_hash,
              lag(seq) OVER (ORDER BY seq) AS previous_seq
       FROM audit_entries
     ), problems AS (
       SELECT seq, CASE
         WHEN seq <> coalesce(previous_seq, 0) + 1 THEN 'an entry before this one is missing'
         WHEN prev_hash <> coalesce(previous_hash, repeat('0', 64)) THEN 'prev_hash does not match the previous entry'
         WHEN hash <> expected THEN 'content does not match its hash: the entry was modified'
       END AS reason
       FROM chain
     )
     SELECT (SELECT count(*) FROM audit_entries) AS checked, p.seq AS broken_at, p.reason
     FROM (SELECT 1) one
     LEFT JOIN LATERAL (SELECT seq, reason FROM problems WHERE reason IS NOT NULL ORDER BY seq LIMIT 1) p ON true`,
  );
  const r = rows[0]!;
  return { ok: r.broken_at === null, checked: r.checked, brokenAt: r.broken_at, reason: r.reason };
}
