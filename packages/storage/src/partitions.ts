import type { Queryable } from './pool.js';

/** Creates this month's and the next `monthsAhead` months' alert partitions; returns how many were new. */
export async function ensureAlertPartitions(db: Queryable, monthsAhead = 2): Promise<number> {
  const { rows } = await db.query<{ created: number }>(
    'SELECT ensure_alert_partitions($1) AS created',
    [monthsAhead],
  );
  return rows[0]?.created ?? 0;
}

/**
 * Retention: drops whole months that end on or before `cutoff`, then the
 * closed incidents (RESOLVED, FALSE_POSITIVE) none of whose alerts remain.
 * Open and acknowledged incidents stay, even with their alerts gone: someone
 * still has to close them. The audit log keeps every incident's history.
 * Returns the dropped partition names.
 */
export async function dropAlertPartitionsBefore(db: Queryable, cutoff: Date): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'SELECT drop_alert_partitions_before($1) AS name',
    [cutoff],
  );
  // Every month before the cutoff's own is gone, and an incident's alerts arrived by its last_seen.
  await db.query(
    `DELETE FROM incidents i
     WHERE i.state IN ('RESOLVED', 'FALSE_POSITIVE')
       AND i.last_seen < date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
       AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.incident_id)`,
    [cutoff],
  );
  return rows.map((r) => r.name);
}

/** The monthly partitions that exist, oldest first. */
export async function listAlertPartitions(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'alerts'::regclass ORDER BY c.relname`,
  );
  return rows.map((r) => r.name);
}

/**
 * The oldest receive time retention keeps with ALERT_RETENTION_MONTHS = `months` (0: keep
 * everything, null): the first day (UTC) of the month `months` before now's. Ingest drops the
 * months before it; the fan-out refuses to backfill a resume from before it.
 */
export function retentionCutoff(now: Date, months: number): Date | null {
  if (months <= 0) return null;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - months, 1));
}
