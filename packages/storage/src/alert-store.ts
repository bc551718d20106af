import type { Alert, NewAlert, Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

export interface InsertOutcome {
  /** Alerts stored by this call, in input order. */
  stored: Array<{ alertId: string; receivedAt: Date }>;
  /** alert_ids that were already stored (resends); nothing was written for them. */
  duplicates: string[];
}

const US_TO_TIMESTAMPTZ = (col: string) =>
  `'epoch'::timestamptz + ${col} * interval '1 microsecond'`;

// One statement, so one implicit transaction: claim each alert_id in the
// idempotency ledger and store only the rows whose claim succeeded.
const INSERT_ALERTS_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::tripwire_type[],
                       $5::severity_level[], $6::text[], $7::jsonb[])
    AS t(alert_id, host_id, occurred_us, tripwire_type, severity, rule_name, event_detail)
), received AS (
  SELECT coalesce($8::timestamptz, now()) AS at
), fresh AS (
  INSERT INTO alert_ids (alert_id, received_at)
  SELECT input.alert_id, received.at FROM input, received
  ON CONFLICT (alert_id) DO NOTHING
  RETURNING alert_id, received_at
)
INSERT INTO alerts (alert_id, host_id, received_at, occurred_at, tripwire_type, severity, rule_name, event_detail)
SELECT i.alert_id, i.host_id, f.received_at, ${US_TO_TIMESTAMPTZ('i.occurred_us')},
       i.tripwire_type, i.severity, i.rule_name, i.event_detail
FROM input i JOIN fresh f USING (alert_id)
RETURNING alert_id, received_at`;

/**
 * Stores alerts idempotently: an alert_id already in the ledger (even one
 * stored months ago, in another partition) is reported as a duplicate, never
 * stored twice. Repeats inside `alerts` count as duplicates of the first.
 * `receivedAt` overrides the server clock (tests and backfills only).
 */
export async function insertAlerts(
  db: Queryable,
  alerts: readonly NewAlert[],
  receivedAt?: Date,
): Promise<InsertOutcome> {
  const seen = new Set<string>();
  const unique: NewAlert[] = [];
  for (const a of alerts) {
    if (!seen.has(a.alertId)) {
      seen.add(a.alertId);
      unique.push(a);
    }
  }
  if (unique.length === 0) return { stored: [], duplicates: [] };
  const { rows } = await db.query<{ alert_id: string; received_at: Date }>(INSERT_ALERTS_SQL, [
    unique.map((a) => a.alertId),
    unique.map((a) => a.hostId),
    unique.map((a) => a.occurredAtUs),
    unique.map((a) => a.tripwireType),
    unique.map((a) => a.severity),
    unique.map((a) => a.ruleName),
    unique.map((a) => a.eventDetailJson),
    receivedAt ?? null,
  ]);
  const storedAt = new Map(rows.map((r) => [r.alert_id, r.received_at]));
  const stored: InsertOutcome['stored'] = [];
  const duplicates: string[] = [];
  for (const a of alerts) {
    const at = storedAt.get(a.alertId);
    if (at) {
      stored.push({ alertId: a.alertId, receivedAt: at });
      storedAt.delete(a.alertId);
    } else {
      duplicates.push(a.alertId);
    }
  }
  return { stored, duplicates };
}

export interface AlertQuery {
  /** Required, with `to`: bounds received_at so PostgreSQL prunes partitions. */
  from: Date;
  to: Date;
  hostId?: string;
  severities?: Severity[];
  tripwireTypes?: TripwireType[];
  /** 1..1000, default 100. */
  limit?: number;
  /** From a previous page's nextCursor. */
  cursor?: string;
}

export interface AlertPage {
  alerts: Alert[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export class InvalidQueryError extends Error {
  override name = 'InvalidQueryError';
}

const ALERT_COLUMNS = `alert_id, host_id, received_at,
  (extract(epoch FROM received_at) * 1000000)::bigint AS received_us,
  (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us,
  tripwire_type, severity, rule_name, event_detail`;

interface AlertRow {
  alert_id: string;
  host_id: string;
  received_at: Date;
  received_us: number;
  occurred_us: number;
  tripwire_type: TripwireType;
  severity: Severity;
  rule_name: string;
  event_detail: unknown;
}

const toAlert = (r: AlertRow): Alert => ({
  alertId: r.alert_id,
  hostId: r.host_id,
  receivedAt: r.received_at,
  occurredAtUs: r.occurred_us,
  tripwireType: r.tripwire_type,
  severity: r.severity,
  ruleName: r.rule_name,
  eventDetail: r.event_detail,
});

const encodeCursor = (receivedUs: number, alertId: string) =>
  Buffer.from(`${receivedUs}|${alertId}`).toString('base64url');

function decodeCursor(cursor: string): { receivedUs: number; alertId: string } {
  const [us, alertId] = Buffer.from(cursor, 'base64url').toString().split('|');
  const receivedUs = Number(us);
  if (!Number.isSafeInteger(receivedUs) || !alertId || !/^[0-9a-f-]{36}$/i.test(alertId)) {
    throw new InvalidQueryError('cursor is not one this server issued');
  }
  return { receivedUs, alertId };
}

/** Newest first, paged by cursor. */
export async function queryAlerts(db: Queryable, query: AlertQuery): Promise<AlertPage> {
  if (!(query.from instanceof Date) || !(query.to instanceof Date)) {
    throw new InvalidQueryError('a time range (from, to) is required');
  }
  if (Number.isNaN(query.from.getTime()) || Number.isNaN(query.to.getTime())) {
    throw new InvalidQueryError('from and to must be valid times');
  }
  if (query.from > query.to) throw new InvalidQueryError('from must not be after to');
  const limit = query.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidQueryError('limit must be an integer from 1 to 1000');
  }
  const params: unknown[] = [query.from, query.to];
  const where = ['received_at >= $1', 'received_at < $2'];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (query.hostId) add((p) => `host_id = ${p}::uuid`, query.hostId);
  if (query.severities?.length)
    add((p) => `severity = ANY(${p}::severity_level[])`, query.severities);
  if (query.tripwireTypes?.length)
    add((p) => `tripwire_type = ANY(${p}::tripwire_type[])`, query.tripwireTypes);
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    params.push(c.receivedUs, c.alertId);
    where.push(
      `(received_at, alert_id) < (${US_TO_TIMESTAMPTZ(`$${params.length - 1}::bigint`)}, $${params.length}::uuid)`,
    );
  }
  params.push(limit + 1);
  const { rows } = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alerts WHERE ${where.join(' AND ')}
     ORDER BY received_at DESC, alert_id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    alerts: page.map(toAlert),
    nextCursor: rows.length > limit && last ? encodeCursor(last.received_us, last.alert_id) : null,
  };
}

/** Fetches specific alerts by id, in any partition. */
export async function getAlertsById(db: Queryable, alertIds: readonly string[]): Promise<Alert[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alerts WHERE alert_id = ANY($1::uuid[]) ORDER BY received_at, alert_id`,
    [alertIds],
  );
  return rows.map(toAlert);
}
