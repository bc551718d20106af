import type { DetailMatcher, SuppressionCriteria } from '@tripwire/wire';
import type { Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

/** What an operator sets on a suppression (docs/suppressions.md). Null criteria match anything. */
export interface SuppressionInput {
  hostId: string | null;
  ruleName: string | null;
  tripwireType: TripwireType | null;
  severity: Severity | null;
  detail: DetailMatcher[];
  justification: string;
  expiresAt: Date | null;
}

export interface Suppression extends SuppressionInput {
  suppressionId: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  /** Rolled-up total plus the hits still waiting in suppression_hits. */
  hitCount: number;
  lastHitAt: Date | null;
}

interface SuppressionRow {
  suppression_id: string;
  host_id: string | null;
  rule_name: string | null;
  tripwire_type: TripwireType | null;
  severity: Severity | null;
  detail: DetailMatcher[];
  justification: string;
  expires_at: Date | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  hit_count: string;
  last_hit_at: Date | null;
}

// The hits still waiting to be rolled up count too, so a listing is exact at any moment.
const COLUMNS = `s.suppression_id, s.host_id, s.rule_name, s.tripwire_type, s.severity, s.detail,
  s.justification, s.expires_at, s.created_by, s.created_at, s.updated_at,
  s.hit_count + coalesce(w.hits, 0) AS hit_count, greatest(s.last_hit_at, w.last_hit_at) AS last_hit_at`;
const FROM = `suppressions s LEFT JOIN LATERAL (
  SELECT sum(h.hits) AS hits, max(h.last_hit_at) AS last_hit_at FROM suppression_hits h
  WHERE h.suppression_id = s.suppression_id) w ON true`;

const toSuppression = (r: SuppressionRow): Suppression => ({
  suppressionId: r.suppression_id,
  hostId: r.host_id,
  ruleName: r.rule_name,
  tripwireType: r.tripwire_type,
  severity: r.severity,
  detail: r.detail,
  justification: r.justification,
  expiresAt: r.expires_at,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  hitCount: Number(r.hit_count),
  lastHitAt: r.last_hit_at,
});

const inputParams = (i: SuppressionInput) => [
  i.hostId,
  i.ruleName,
  i.tripwireType,
  i.severity,
  JSON.stringify(i.detail),
  i.justification,
  i.expiresAt,
];

/** Serializes creations, so the count of suppressions in force is checked and raised atomically. */
const CREATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tripwire.suppressions'))";

/** Suppressions in force now (not expired). */
export async function countActiveSuppressions(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM suppressions WHERE expires_at IS NULL OR expires_at > now()',
  );
  return Number(rows[0]!.n);
}

/**
 * Creates one, unless `maxActive` are already in force (returns null then). Call inside a
 * transaction: the lock that makes the check exact lasts until it ends.
 */
export async function createSuppression(
  db: Queryable,
  input: SuppressionInput,
  createdBy: string,
  maxActive: number,
): Promise<Suppression | null> {
  await db.query(CREATE_LOCK);
  if ((await countActiveSuppressions(db)) >= maxActive) return null;
  const { rows } = await db.query<{ suppression_id: string }>(
    `INSERT INTO suppressions (host_id, rule_name, tripwire_type, severity, detail, justification, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) RETURNING suppression_id`,
    [...inputParams(input), createdBy],
  );
  return getSuppression(db, rows[0]!.suppression_id);
}

export async function getSuppression(db: Queryable, id: string): Promise<Suppression | null> {
  const { rows } = await db.query<SuppressionRow>(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE s.suppression_id = $1`,
    [id],
  );
  return rows[0] ? toSuppression(rows[0]) : null;
}

/** Newest first; `active` only: those not expired. */
export async function listSuppressions(
  db: Queryable,
  { active = false, limit = 500 }: { active?: boolean; limit?: number } = {},
): Promise<Suppression[]> {
  const { rows } = await db.query<SuppressionRow>(
    `SELECT ${COLUMNS} FROM ${FROM}
     ${active ? 'WHERE s.expires_at IS NULL OR s.expires_at > now()' : ''}
     ORDER BY s.created_at DESC, s.suppression_id DESC LIMIT $1`,
    [limit],
  );
  return rows.map(toSuppression);
}

/** Replaces the criteria, justification and expiry; null when there is no such suppression. */
export async function updateSuppression(
  db: Queryable,
  id: string,
  input: SuppressionInput,
): Promise<Suppression | null> {
  const { rowCount } = await db.query(
    `UPDATE suppressions SET host_id = $2, rule_name = $3, tripwire_type = $4, severity = $5,
       detail = $6::jsonb, justification = $7, expires_at = $8, updated_at = now()
     WHERE suppression_id = $1`,
    [id, ...inputParams(input)],
  );
  return rowCount ? getSuppression(db, id) : null;
}

/** Ends it now (if it was still in force); null when there is no such suppression. */
export async function expireSuppression(db: Queryable, id: string): Promise<Suppression | null> {
  const { rowCount } = await db.query(
    `UPDATE suppressions SET expires_at = least(coalesce(expires_at, now()), now()), updated_at = now()
     WHERE suppression_id = $1`,
    [id],
  );
  return rowCount ? getSuppression(db, id) : null;
}

/** What ingest matches alerts against: the criteria of those in force, oldest first. */
export async function activeSuppressionCriteria(db: Queryable): Promise<SuppressionCriteria[]> {
  const { rows } = await db.query<
    Pick<
      SuppressionRow,
      'suppression_id' | 'host_id' | 'rule_name' | 'tripwire_type' | 'severity' | 'detail'
    > & { expires_ms: string | null }
  >(
    `SELECT suppression_id, host_id, rule_name, tripwire_type, severity, detail,
       (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms
     FROM suppressions WHERE expires_at IS NULL OR expires_at > now()
     ORDER BY created_at, suppression_id`,
  );
  return rows.map((r) => ({
    suppressionId: r.suppression_id,
    hostId: r.host_id,
    ruleName: r.rule_name,
    tripwireType: r.tripwire_type,
    severity: r.severity,
    detail: r.detail,
    expiresAtMs: r.expires_ms === null ? null : Number(r.expires_ms),
  }));
}

/** Folds the waiting hit rows into the totals; returns how many suppressions it updated. */
export async function rollUpSuppressionHits(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT roll_up_suppression_hits() AS n');
  return Number(rows[0]!.n);
}
