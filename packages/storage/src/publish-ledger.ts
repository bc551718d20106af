import type { Queryable } from './pool.js';

// The idempotency ledger (alert_ids, migrations 0002, 0011 and 0013) also says which alerts are
// known to be on the bus, and where. docs/fanout.md#exactly-once states what this guarantees browsers.

/** An alert Redis confirmed in the bus stream, and where: its position's epoch and offset. */
export interface PublishedAlert {
  alertId: string;
  busEpoch: string;
  busOffset: bigint;
}

// Committed without waiting for the WAL flush (synchronous_commit off for this statement's own
// transaction, set_config(..., true)): a mark lost in a PostgreSQL crash is the same as an
// instance that stopped before marking, which the fan-out covers, and the flush wait would
// compete with the alert inserts' own. One statement per batch: the three arrays are unnested
// side by side, each row found by its primary key; the columns set are in no index, so the
// update stays HOT (migrations 0011, 0013). The first mark wins: a row already marked keeps
// the position it was first confirmed at.
const MARK_PUBLISHED_SQL = `UPDATE alert_ids l
  SET published = true, bus_epoch = m.bus_epoch, bus_offset = m.bus_offset
  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit,
    unnest($1::uuid[], $2::text[], $3::bigint[]) AS m(alert_id, bus_epoch, bus_offset)
  WHERE l.alert_id = m.alert_id AND NOT l.published`;

/**
 * Records that these alerts are in the bus stream (Redis confirmed their append), with their
 * positions. One statement for the whole list; ids already marked, or no longer in the ledger
 * (retention), are skipped. Returns how many rows it changed.
 */
export async function markAlertsPublished(
  db: Queryable,
  alerts: readonly PublishedAlert[],
): Promise<number> {
  if (alerts.length === 0) return 0;
  const { rowCount } = await db.query({
    // Named, so each connection parses and plans it once.
    name: 'tripwire_mark_alerts_published',
    text: MARK_PUBLISHED_SQL,
    values: [
      alerts.map((a) => a.alertId),
      alerts.map((a) => a.busEpoch),
      alerts.map((a) => a.busOffset.toString()),
    ],
  });
  return rowCount ?? 0;
}

/**
 * Of these (already stored) alert ids, the ones never marked published, with when each was
 * stored: whatever their age, the bus may never have carried them (the instance that stored
 * one can have died between its COMMIT and its publish), so a resend must publish them.
 */
export async function unpublishedAlertIds(
  db: Queryable,
  alertIds: readonly string[],
): Promise<Map<string, Date>> {
  if (alertIds.length === 0) return new Map();
  const { rows } = await db.query<{ alert_id: string; received_at: Date }>({
    name: 'tripwire_unpublished_alert_ids',
    text: 'SELECT alert_id::text, received_at FROM alert_ids WHERE alert_id = ANY($1::uuid[]) AND NOT published',
    values: [alertIds],
  });
  return new Map(rows.map((r) => [r.alert_id, r.received_at]));
}

/**
 * Marks these alerts published without a position: the bus carried them once in a stream Redis
 * has since lost, or may have (the republish sweep, for rows stored before the current epoch
 * began). A resume from PostgreSQL then sends them by time without waiting for a mark.
 */
export async function markAlertsPublishedElsewhere(
  db: Queryable,
  alertIds: readonly string[],
): Promise<void> {
  if (alertIds.length === 0) return;
  await db.query(
    'UPDATE alert_ids SET published = true WHERE alert_id = ANY($1::uuid[]) AND NOT published',
    [alertIds],
  );
}
