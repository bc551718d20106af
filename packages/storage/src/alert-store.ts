import { ALERT_SEARCH_TEXT, alertSearchPattern } from './alert-search.js';
import type { Alert, NewAlert, Severity, TripwireType } from './models.js';
import type { Pool, Queryable } from './pool.js';
import { InvalidQueryError } from './query-errors.js';
import { mapBatches, type RowCursorOptions, streamRows } from './row-cursor.js';

export { InvalidQueryError };

export interface InsertOutcome {
  /** Alerts stored by this call, in input order. */
  stored: Array<{ alertId: string; receivedAt: Date }>;
  /** alert_ids that were already stored (resends); nothing was written for them. */
  duplicates: string[];
  /** The incidents this call's new alerts joined or opened (for a later bus message). */
  incidents: IncidentTouch[];
}

/** An incident a flush touched, as it stands after the flush. */
export interface IncidentTouch {
  incidentId: string;
  hostId: string;
  ruleName: string;
  tripwireType: TripwireType;
  maxSeverity: Severity;
  alertCount: number;
  /** true when this flush opened it, false when its alerts joined an existing one. */
  opened: boolean;
}

/** Default correlation window: an alert joins an incident whose last alert is at most this old. */
export const DEFAULT_INCIDENT_WINDOW_S = 300;

export interface InsertOptions {
  /** Overrides the server clock (tests and backfills only). */
  receivedAt?: Date;
  /** Correlation window in seconds; default DEFAULT_INCIDENT_WINDOW_S. */
  incidentWindowS?: number;
}

export const US_TO_TIMESTAMPTZ = (col: string) =>
  `'epoch'::timestamptz + ${col} * interval '1 microsecond'`;

// One statement, so one implicit transaction: ingest_alerts() (migration 0007)
// locks the batch's correlation keys, claims each alert_id in the idempotency
// ledger, groups the new alerts into incidents and stores them. The batch
// travels as one JSON array: cheaper for both sides than seven typed arrays.
const INSERT_ALERTS_SQL =
  'SELECT received_at, stored_ids, incidents FROM ingest_alerts($1::jsonb, $2::timestamptz, $3::double precision)';
// With suppressed alerts in the batch (migration 0016): the same statement, so the same
// transaction, also stores those (no incident) at the same received_at and counts their hits.
const INSERT_WITH_SUPPRESSED_SQL = `SELECT r.received_at, r.stored_ids || ingest_suppressed_alerts($4::jsonb, r.received_at) AS stored_ids, r.incidents
  FROM ingest_alerts($1::jsonb, $2::timestamptz, $3::double precision) r`;

interface IncidentTouchRow {
  incident_id: string;
  host_id: string;
  rule_name: string;
  tripwire_type: TripwireType;
  max_severity: Severity;
  alert_count: number;
  opened: boolean;
}

/**
 * The batch as JSON. Ids are validated UUIDs and enums are fixed words, so
 * they are spliced as is; event detail is already valid JSON text. Rows are
 * sorted by alert_id so concurrent batches take ledger locks in one order and
 * cannot deadlock.
 */
function batchJson(alerts: readonly NewAlert[], withSuppression = false): string {
  const rows = [...alerts].sort((a, b) =>
    a.alertId < b.alertId ? -1 : a.alertId > b.alertId ? 1 : 0,
  );
  let json = '[';
  for (let i = 0; i < rows.length; i++) {
    const a = rows[i]!;
    json += `${i ? ',' : ''}{"id":"${a.alertId}","host":"${a.hostId}","us":${a.occurredAtUs},"type":"${a.tripwireType}","sev":"${a.severity}","rule":${JSON.stringify(a.ruleName)}${a.eventDetailJson === null ? '' : `,"detail":${a.eventDetailJson}`}${withSuppression ? `,"sup":"${a.suppressionId}"` : ''}}`;
  }
  return `${json}]`;
}

/**
 * Stores alerts idempotently: an alert_id already in the ledger (even one
 * stored months ago, in another partition) is reported as a duplicate, never
 * stored twice. Repeats inside `alerts` count as duplicates of the first.
 * `receivedAt` overrides the server clock (tests and backfills only).
 */
export async function insertAlerts(
  db: Queryable,
  alerts: readonly NewAlert[],
  options: InsertOptions | Date = {},
): Promise<InsertOutcome> {
  const { receivedAt, incidentWindowS = DEFAULT_INCIDENT_WINDOW_S } =
    options instanceof Date ? { receivedAt: options } : options;
  const seen = new Set<string>();
  const unique: NewAlert[] = [];
  for (const a of alerts) {
    if (!seen.has(a.alertId)) {
      seen.add(a.alertId);
      unique.push(a);
    }
  }
  if (unique.length === 0) return { stored: [], duplicates: [], incidents: [] };
  const muted = unique.filter((a) => a.suppressionId);
  const incidentBound = muted.length ? unique.filter((a) => !a.suppressionId) : unique;
  const values = [batchJson(incidentBound), receivedAt ?? null, incidentWindowS];
  if (muted.length) values.push(batchJson(muted, true));
  // Named, so each connection parses and plans it once.
  const { rows } = await db.query<{
    received_at: Date;
    stored_ids: string[];
    incidents: IncidentTouchRow[];
  }>(
    muted.length
      ? { name: 'tripwire_insert_alerts_muted', text: INSERT_WITH_SUPPRESSED_SQL, values }
      : { name: 'tripwire_insert_alerts', text: INSERT_ALERTS_SQL, values },
  );
  const { received_at: at, stored_ids, incidents } = rows[0]!;
  const fresh = new Set(stored_ids);
  const stored: InsertOutcome['stored'] = [];
  const duplicates: string[] = [];
  for (const a of alerts) {
    if (fresh.delete(a.alertId.toLowerCase())) stored.push({ alertId: a.alertId, receivedAt: at });
    else duplicates.push(a.alertId);
  }
  return {
    stored,
    duplicates,
    incidents: incidents.map((r) => ({
      incidentId: r.incident_id,
      hostId: r.host_id,
      ruleName: r.rule_name,
      tripwireType: r.tripwire_type,
      maxSeverity: r.max_severity,
      alertCount: Number(r.alert_count),
      opened: r.opened,
    })),
  };
}

export interface AlertQuery {
  /** Required, with `to`: bounds received_at so PostgreSQL prunes partitions. */
  from: Date;
  to: Date;
  hostId?: string;
  severities?: Severity[];
  tripwireTypes?: TripwireType[];
  /** Suppressed alerts: left out (default), listed too, or the only ones listed. */
  suppressed?: 'exclude' | 'include' | 'only';
  /** Search: a substring of the rule name or of event_detail (alert-search.ts), 3 to 200 characters. */
  q?: string;
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

export const ALERT_COLUMNS = `a.alert_id, a.host_id, a.received_at,
  (extract(epoch FROM a.received_at) * 1000000)::bigint AS received_us,
  (extract(epoch FROM a.occurred_at) * 1000000)::bigint AS occurred_us,
  a.tripwire_type, a.severity, a.rule_name, a.event_detail, a.suppression_id`;

export interface AlertRow {
  alert_id: string;
  host_id: string;
  received_at: Date;
  received_us: number;
  occurred_us: number;
  tripwire_type: TripwireType;
  severity: Severity;
  rule_name: string;
  event_detail: unknown;
  suppression_id: string | null;
}

export const toAlert = (r: AlertRow): Alert => ({
  alertId: r.alert_id,
  hostId: r.host_id,
  receivedAt: r.received_at,
  occurredAtUs: r.occurred_us,
  tripwireType: r.tripwire_type,
  severity: r.severity,
  ruleName: r.rule_name,
  eventDetail: r.event_detail,
  suppressionId: r.suppression_id,
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

/** The WHERE clause (over `alerts a`) and its parameters for a query's filters; validates them. */
function alertFilter(query: Omit<AlertQuery, 'limit'>): { where: string[]; params: unknown[] } {
  if (!(query.from instanceof Date) || !(query.to instanceof Date)) {
    throw new InvalidQueryError('a time range (from, to) is required');
  }
  if (Number.isNaN(query.from.getTime()) || Number.isNaN(query.to.getTime())) {
    throw new InvalidQueryError('from and to must be valid times');
  }
  if (query.from > query.to) throw new InvalidQueryError('from must not be after to');
  const params: unknown[] = [query.from, query.to];
  const where = ['a.received_at >= $1', 'a.received_at < $2'];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (query.hostId) add((p) => `a.host_id = ${p}::uuid`, query.hostId);
  if (query.severities?.length)
    add((p) => `a.severity = ANY(${p}::severity_level[])`, query.severities);
  if (query.tripwireTypes?.length)
    add((p) => `a.tripwire_type = ANY(${p}::tripwire_type[])`, query.tripwireTypes);
  if (query.q !== undefined)
    add((p) => `${ALERT_SEARCH_TEXT} ILIKE ${p}`, alertSearchPattern(query.q));
  if ((query.suppressed ?? 'exclude') === 'exclude') where.push('a.suppression_id IS NULL');
  if (query.suppressed === 'only') where.push('a.suppression_id IS NOT NULL');
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    params.push(c.receivedUs, c.alertId);
    where.push(
      `(a.received_at, a.alert_id) < (${US_TO_TIMESTAMPTZ(`$${params.length - 1}::bigint`)}, $${params.length}::uuid)`,
    );
  }
  return { where, params };
}

/** Newest first, paged by cursor. */
export async function queryAlerts(db: Queryable, query: AlertQuery): Promise<AlertPage> {
  const limit = query.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidQueryError('limit must be an integer from 1 to 1000');
  }
  const { where, params } = alertFilter(query);
  params.push(limit + 1);
  const { rows } = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alerts a WHERE ${where.join(' AND ')}
     ORDER BY a.received_at DESC, a.alert_id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    alerts: page.map(toAlert),
    nextCursor: rows.length > limit && last ? encodeCursor(last.received_us, last.alert_id) : null,
  };
}

/**
 * Every alert a query matches (its filters, no limit), newest first, in batches from a
 * server-side cursor (row-cursor.ts): for exports of any size. The filters are checked here,
 * before any connection is taken (InvalidQueryError).
 */
export function streamAlerts(
  pool: Pool,
  query: Omit<AlertQuery, 'limit' | 'cursor'>,
  options: RowCursorOptions,
): AsyncGenerator<Alert[], void, undefined> {
  const { where, params } = alertFilter(query);
  const rows = streamRows<AlertRow>(
    pool,
    `SELECT ${ALERT_COLUMNS} FROM alerts a WHERE ${where.join(' AND ')}
     ORDER BY a.received_at DESC, a.alert_id DESC`,
    params,
    options,
  );
  return mapBatches(rows, toAlert);
}

/** Fetches specific alerts by id, in any partition. */
export async function getAlertsById(db: Queryable, alertIds: readonly string[]): Promise<Alert[]> {
  // The ledger knows each alert's received_at, which leads to its partition and primary key.
  const { rows } = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alert_ids l
     JOIN alerts a ON a.received_at = l.received_at AND a.alert_id = l.alert_id
     WHERE l.alert_id = ANY($1::uuid[]) ORDER BY a.received_at, a.alert_id`,
    [alertIds],
  );
  return rows.map(toAlert);
}
