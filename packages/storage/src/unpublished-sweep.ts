import type { Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

// The republish sweep's reads and writes (migration 0014): the alerts a dead ingest instance
// stored that the ledger never marked published, read a bounded page at a time along the alerts'
// primary key, from where the last page ended.

/** Where a sweep got to: the keyset (received_at, alert_id) of the last row it looked at. */
export interface SweepCursor {
  /** received_at as PostgreSQL prints it (microseconds kept: a Date would lose them). */
  at: string;
  alertId: string;
}

/** An alert to publish again, with what the bus message needs. */
export interface SweptAlert {
  alertId: string;
  hostId: string;
  hostname: string;
  occurredAtUs: number;
  receivedAt: Date;
  tripwireType: TripwireType;
  severity: Severity;
  ruleName: string;
  eventDetailJson: string | null;
  /** The suppression that muted it (migration 0016), so it is republished muted too. */
  suppressionId: string | null;
}

export interface SweepPage {
  /** The rows of this page still unmarked and stored by the dead instance, in store order. */
  due: SweptAlert[];
  /** The last row looked at (null: none, the span is done). */
  cursor: SweepCursor | null;
  /** Rows looked at. */
  scanned: number;
  /** The epochs the ledger marks this page's rows in (every row of the span, not only the due). */
  epochs: Set<string>;
  /** Fewer rows than asked for: the span ends here. */
  last: boolean;
}

// Rows the dead instance can have stored: from its start (or `horizon` before it was found
// dead, whichever is later) to when it was found dead. The page walks the alerts' primary key
// (partition pruning by received_at), looks each row up in the ledger by its primary key, and
// keeps the ones stored by the instance and not marked. `$3` bounds the rows looked at, not the
// rows found, so a page costs the same however few are due.
const SWEEP_PAGE_SQL = `SELECT a.received_at::text AS at, a.alert_id::text AS alert_id, a.received_at,
    (l.stored_by = i.instance_id AND NOT l.published) AS due, l.bus_epoch,
    a.host_id::text AS host_id, h.hostname, a.tripwire_type, a.severity, a.rule_name,
    (extract(epoch FROM a.occurred_at) * 1000000)::bigint AS occurred_us,
    a.event_detail::text AS event_detail, a.suppression_id::text AS suppression_id
  FROM ingest_instances i
  JOIN alerts a ON a.received_at >= greatest(i.started_at, i.dead_since - make_interval(secs => $2))
    AND a.received_at <= i.dead_since
    AND (a.received_at, a.alert_id) > (coalesce(i.swept_at, '-infinity'), coalesce(i.swept_id, '00000000-0000-0000-0000-000000000000'))
  JOIN alert_ids l ON l.alert_id = a.alert_id
  LEFT JOIN hosts h ON h.host_id = a.host_id
  WHERE i.instance_id = $1 AND i.dead_since IS NOT NULL
  ORDER BY a.received_at, a.alert_id
  LIMIT $3`;

interface SweepRow {
  at: string;
  alert_id: string;
  received_at: Date;
  due: boolean;
  bus_epoch: string | null;
  host_id: string;
  hostname: string | null;
  tripwire_type: TripwireType;
  severity: Severity;
  rule_name: string;
  occurred_us: number;
  event_detail: string | null;
  suppression_id: string | null;
}

/**
 * The next page of a dead instance's span: at most `limit` rows looked at, the due ones returned
 * in the order they were stored (received_at, then sensor time), the cursor after the last.
 */
export async function sweepPage(
  db: Queryable,
  instanceId: number,
  horizonS: number,
  limit: number,
): Promise<SweepPage> {
  const { rows } = await db.query<SweepRow>(SWEEP_PAGE_SQL, [instanceId, horizonS, limit]);
  const lastRow = rows.at(-1);
  const due = rows
    .filter((r) => r.due)
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.occurred_us - b.occurred_us))
    .map(
      (r): SweptAlert => ({
        alertId: r.alert_id,
        hostId: r.host_id,
        hostname: r.hostname ?? '',
        occurredAtUs: r.occurred_us,
        receivedAt: r.received_at,
        tripwireType: r.tripwire_type,
        severity: r.severity,
        ruleName: r.rule_name,
        eventDetailJson: r.event_detail,
        suppressionId: r.suppression_id,
      }),
    );
  return {
    due,
    cursor: lastRow ? { at: lastRow.at, alertId: lastRow.alert_id } : null,
    scanned: rows.length,
    epochs: new Set(rows.flatMap((r) => (r.bus_epoch === null ? [] : [r.bus_epoch]))),
    last: rows.length < limit,
  };
}

/** Records how far the sweep of `instanceId` got (after what it republished is on the bus). */
export async function advanceSweep(
  db: Queryable,
  instanceId: number,
  cursor: SweepCursor,
): Promise<void> {
  await db.query(
    'UPDATE ingest_instances SET swept_at = $2::timestamptz, swept_id = $3::uuid WHERE instance_id = $1',
    [instanceId, cursor.at, cursor.alertId],
  );
}
