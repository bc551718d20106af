import { ALERT_COLUMNS, type AlertRow, toAlert, US_TO_TIMESTAMPTZ } from './alert-store.js';
import type { Alert, Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

/**
 * What one subscription lets through, in storage's words: every list empty means "any".
 * A socket's subscriptions are OR-ed: a row is selected when any selector takes it.
 */
export interface RowSelector {
  severities: readonly Severity[];
  tripwireTypes: readonly TripwireType[];
  hostIds: readonly string[];
  /** Suppressed alerts too (docs/suppressions.md); left out unless true. */
  includeSuppressed?: boolean;
}

/** The columns a selector looks at, in the table it filters. */
interface SelectorColumns {
  severity: string;
  tripwireType: string;
  hostId: string;
  /** The alert's suppression_id (alerts only: incidents hold no suppressed alert). */
  suppressionId?: string;
}

/** Where `row (host, type, severity)` passes at least one selector; pushes its parameters. */
export function selectorCondition(
  selectors: readonly RowSelector[],
  columns: SelectorColumns,
  params: unknown[],
): string {
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const ors: string[] = [];
  for (const s of selectors) {
    const ands: string[] = [];
    if (s.severities.length)
      ands.push(`${columns.severity} = ANY(${add(s.severities)}::severity_level[])`);
    if (s.tripwireTypes.length)
      ands.push(`${columns.tripwireType} = ANY(${add(s.tripwireTypes)}::tripwire_type[])`);
    if (s.hostIds.length) ands.push(`${columns.hostId} = ANY(${add(s.hostIds)}::uuid[])`);
    if (columns.suppressionId && !s.includeSuppressed)
      ands.push(`${columns.suppressionId} IS NULL`);
    // One selector without restrictions takes every row: the others need not be checked.
    if (ands.length === 0) return 'true';
    ors.push(`(${ands.join(' AND ')})`);
  }
  return ors.length ? `(${ors.join(' OR ')})` : 'false';
}

/** A stored alert with its host's current name and its exact receive time (µs), for keyset paging. */
export interface BackfillAlert extends Alert {
  hostname: string;
  receivedUs: number;
  /**
   * The ledger does not mark it published (yet): true only for rows the query looked up
   * (received before `seen.lookUpBeforeUs`, or at or after `lookUpFromUs`). Its position is then
   * unknown, so it was sent by time.
   */
  unmarked: boolean;
  /** Where the ledger records it on the bus, for rows looked up and marked with a position. */
  mark: { epoch: string; offset: number } | null;
  /**
   * Looked up, unmarked, and stored by a registered ingest instance (migration 0014): its own
   * publish, or the republish sweep if it died, will mark it.
   */
  pending: boolean;
}

/**
 * A browser's position, as the ledger can compare with it: the alerts recorded in this epoch at
 * or before this offset are the ones the browser had (the published mark records each alert's
 * position, migration 0013).
 */
export interface SeenThrough {
  epoch: string;
  offset: bigint;
  /**
   * Only rows received before this (µs) are looked up in the ledger: a row received later
   * cannot have been published at or before the position (an alert is stored before it is
   * published; the caller adds the clock skew between PostgreSQL and Redis).
   */
  lookUpBeforeUs: number;
}

/** Where the previous page ended: the last row's (received_at, occurred_at) in µs and alert_id. */
export interface AlertKeyset {
  receivedUs: number;
  occurredUs: number;
  alertId: string;
}

export interface StoredAlertsQuery {
  /** received_at ≥ this, in µs since the epoch. */
  fromUs: number;
  /** received_at < this, in µs. */
  untilUs: number;
  /** The previous page's last row; null for the first page. */
  after: AlertKeyset | null;
  selectors: readonly RowSelector[];
  limit: number;
  /** Leaves out the alerts recorded at or before this position; null: none left out (by position). */
  seen?: SeenThrough | null;
  /**
   * Rows received at or after this (µs) are looked up in the ledger too (their `mark`): the
   * caller leaves out those the bus carries after its hand-over point. Null: not these.
   */
  lookUpFromUs?: number | null;
}

/**
 * One page of the alerts stored in [fromUs, untilUs), after a keyset, in the order they were
 * stored: by receive time (one ingest flush shares one), then by when the sensor saw them,
 * which is the order an agent sends a host's alerts in; alert_id breaks ties. Keyset
 * paging rather than a server-side cursor: no connection or transaction is held while a slow
 * browser reads a page, each page is one short statement under the pool's statement_timeout,
 * and the primary key (received_at, alert_id) serves the order, pruned to the partitions the
 * range reaches.
 */
export async function storedAlertsPage(
  db: Queryable,
  query: StoredAlertsQuery,
): Promise<BackfillAlert[]> {
  const params: unknown[] = [query.fromUs, query.untilUs];
  const where = [
    `a.received_at >= ${US_TO_TIMESTAMPTZ('$1::bigint')}`,
    `a.received_at < ${US_TO_TIMESTAMPTZ('$2::bigint')}`,
  ];
  if (query.after) {
    const { receivedUs, occurredUs, alertId } = query.after;
    params.push(receivedUs, occurredUs, alertId);
    const at = US_TO_TIMESTAMPTZ(`$${params.length - 2}::bigint`);
    // The first comparison alone lets the primary key skip to the page's start.
    where.push(
      `a.received_at >= ${at}`,
      `(a.received_at, a.occurred_at, a.alert_id) > (${at}, ${US_TO_TIMESTAMPTZ(`$${params.length - 1}::bigint`)}, $${params.length}::uuid)`,
    );
  }
  where.push(
    selectorCondition(
      query.selectors,
      {
        ...{ severity: 'a.severity', tripwireType: 'a.tripwire_type', hostId: 'a.host_id' },
        suppressionId: 'a.suppression_id',
      },
      params,
    ),
  );
  const ledger = ledgerLookUp(query.seen ?? null, query.lookUpFromUs ?? null, params);
  if (ledger.condition) where.push(ledger.condition);
  params.push(query.limit);
  const { rows } = await db.query<
    AlertRow & {
      hostname: string;
      unmarked: boolean | null;
      mark_epoch: string | null;
      mark_offset: number | null;
      pending: boolean | null;
    }
  >(
    `SELECT ${ALERT_COLUMNS}, coalesce(h.hostname, '') AS hostname, ${ledger.unmarked} AS unmarked,
       ${ledger.mark}, ${ledger.pending} AS pending
     FROM alerts a LEFT JOIN hosts h ON h.host_id = a.host_id ${ledger.join}
     WHERE ${where.join(' AND ')}
     ORDER BY a.received_at, a.occurred_at, a.alert_id LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({
    ...toAlert(r),
    hostname: r.hostname,
    receivedUs: Number(r.received_us),
    unmarked: r.unmarked === true,
    mark:
      r.mark_epoch === null || r.mark_offset === null
        ? null
        : { epoch: r.mark_epoch, offset: Number(r.mark_offset) },
    pending: r.pending === true,
  }));
}

const INT8_MAX = 2n ** 63n - 1n;

/**
 * The ledger's part of a page query: each row received before `seen.lookUpBeforeUs` or at or
 * after `lookUpFromUs` is looked up by its primary key (a lateral subquery kept apart by OFFSET
 * 0, so the plan is a probe per row, skipped for the other rows, never a join over the whole
 * ledger); a row whose mark is at or before the browser's position is left out.
 */
function ledgerLookUp(
  seen: SeenThrough | null,
  lookUpFromUs: number | null,
  params: unknown[],
): { join: string; condition: string | null; unmarked: string; mark: string; pending: string } {
  const none = 'NULL::text AS mark_epoch, NULL::bigint AS mark_offset';
  if (seen === null && lookUpFromUs === null)
    return { join: '', condition: null, unmarked: 'false', mark: none, pending: 'false' };
  const which: string[] = [];
  let condition: string | null = null;
  if (seen !== null) {
    // A position's offset may have 20 digits; no recorded one exceeds bigint's range.
    const offset = seen.offset > INT8_MAX ? INT8_MAX : seen.offset;
    params.push(seen.lookUpBeforeUs, seen.epoch, offset.toString());
    const [before, epochAt, offsetAt] = [params.length - 2, params.length - 1, params.length];
    which.push(`a.received_at < ${US_TO_TIMESTAMPTZ(`$${before}::bigint`)}`);
    condition = `NOT coalesce(m.bus_epoch = $${epochAt}::text AND m.bus_offset <= $${offsetAt}::bigint, false)`;
  }
  if (lookUpFromUs !== null) {
    params.push(lookUpFromUs);
    which.push(`a.received_at >= ${US_TO_TIMESTAMPTZ(`$${params.length}::bigint`)}`);
  }
  return {
    join: `LEFT JOIN LATERAL (
       SELECT l.published, l.bus_epoch, l.bus_offset, l.stored_by FROM alert_ids l
       WHERE l.alert_id = a.alert_id AND (${which.join(' OR ')})
       OFFSET 0) m ON true`,
    condition,
    unmarked: 'NOT m.published',
    mark: 'm.bus_epoch AS mark_epoch, m.bus_offset AS mark_offset',
    pending: `(NOT m.published AND EXISTS (SELECT 1 FROM ingest_instances i WHERE i.instance_id = m.stored_by))`,
  };
}
