// Reference ways of loading alerts, for the ingest benchmark's baselines only:
// the practical ceiling (COPY) and what a quick implementation does (one
// autocommitted INSERT per alert). Not used by any service.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { NewAlert } from './models.js';
import { checkOut, type Pool } from './pool.js';

const copyText = (v: string) =>
  v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
const isoFromUs = (us: number) => new Date(Math.floor(us / 1000)).toISOString();

/**
 * COPY straight into the alerts table: no idempotency ledger, no dedupe. Every row is received
 * now, unless `receivedAt` gives each its own time (the search benchmark spreads a day).
 */
export async function copyAlertsRaw(
  pool: Pool,
  alerts: readonly NewAlert[],
  receivedAt?: (index: number) => Date,
): Promise<void> {
  const now = new Date();
  const at = receivedAt ?? (() => now);
  const client = await checkOut(pool);
  try {
    const rows = alerts.map(
      (a, i) =>
        `${a.alertId}\t${a.hostId}\t${at(i).toISOString()}\t${isoFromUs(a.occurredAtUs)}\t${a.tripwireType}\t${a.severity}\t` +
        `${copyText(a.ruleName)}\t${a.eventDetailJson === null ? '\\N' : copyText(a.eventDetailJson)}\n`,
    );
    await pipeline(
      Readable.from(rows),
      client.query(
        copyFrom(
          'COPY alerts (alert_id, host_id, received_at, occurred_at, tripwire_type, severity, rule_name, event_detail) FROM STDIN',
        ),
      ),
    );
  } finally {
    client.release();
  }
}

/** One INSERT per alert, each its own transaction. */
export async function insertAlertsOneByOne(pool: Pool, alerts: readonly NewAlert[]): Promise<void> {
  for (const a of alerts) {
    await pool.query(
      `INSERT INTO alerts (alert_id, host_id, occurred_at, tripwire_type, severity, rule_name, event_detail)
       VALUES ($1, $2, 'epoch'::timestamptz + $3 * interval '1 microsecond', $4, $5, $6, $7)`,
      [
        a.alertId,
        a.hostId,
        a.occurredAtUs,
        a.tripwireType,
        a.severity,
        a.ruleName,
        a.eventDetailJson,
      ],
    );
  }
}
