import { InvalidQueryError } from './alert-store.js';
import type { Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

const MINUTE_MS = 60_000;
/** Longest range countAlertsPerMinute answers: a week of minutes. */
export const MAX_MINUTE_BUCKETS = 7 * 24 * 60;

/**
 * Alerts received since `since`, for every registered host (0 when none).
 * One index-only range scan of alerts_host_received_idx per host, in every
 * partition the range reaches; the alert rows themselves are never read.
 */
export async function countAlertsPerHost(db: Queryable, since: Date): Promise<Map<string, number>> {
  if (!(since instanceof Date) || Number.isNaN(since.getTime())) {
    throw new InvalidQueryError('since must be a valid time');
  }
  const { rows } = await db.query<{ host_id: string; alerts: number }>(
    `SELECT h.host_id, c.alerts FROM hosts h
     CROSS JOIN LATERAL (
       SELECT count(*) AS alerts FROM alerts a
       WHERE a.host_id = h.host_id AND a.received_at >= $1
     ) c`,
    [since],
  );
  return new Map(rows.map((r) => [r.host_id, r.alerts]));
}

export interface MinuteBucket {
  /** Start of the minute (UTC). */
  minute: Date;
  counts: Record<Severity, number>;
}

export interface AlertsPerMinuteQuery {
  /** Rounded down to its minute: the first bucket starts there. */
  from: Date;
  /** Exclusive: the last bucket is the minute holding the instant just before `to`. */
  to: Date;
  /** Count only alerts received before this instant (default: `to`); the buckets still reach `to`. */
  receivedBefore?: Date;
  hostId?: string;
  /** Only these severities and types (all when empty). */
  severities?: Severity[];
  tripwireTypes?: TripwireType[];
}

/**
 * Alerts per minute of received_at, by severity: every minute of the range,
 * oldest first, zero-filled. The received_at bounds prune partitions and
 * range-scan the primary key (or alerts_host_received_idx for one host).
 */
export async function countAlertsPerMinute(
  db: Queryable,
  query: AlertsPerMinuteQuery,
): Promise<MinuteBucket[]> {
  const fromMs = query.from instanceof Date ? query.from.getTime() : Number.NaN;
  const toMs = query.to instanceof Date ? query.to.getTime() : Number.NaN;
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) {
    throw new InvalidQueryError('from and to must be valid times');
  }
  if (fromMs > toMs) throw new InvalidQueryError('from must not be after to');
  // Unix time has no leap seconds, so UTC minutes are exact multiples of 60 s.
  const start = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
  const buckets = Math.ceil((toMs - start) / MINUTE_MS);
  if (buckets > MAX_MINUTE_BUCKETS) {
    throw new InvalidQueryError(`the range may span at most ${MAX_MINUTE_BUCKETS} minutes`);
  }
  const params: unknown[] = [new Date(start), query.receivedBefore ?? query.to];
  let filters = '';
  if (query.hostId) {
    params.push(query.hostId);
    filters += ` AND host_id = $${params.length}::uuid`;
  }
  if (query.severities?.length) {
    params.push(query.severities);
    filters += ` AND severity = ANY($${params.length}::severity_level[])`;
  }
  if (query.tripwireTypes?.length) {
    params.push(query.tripwireTypes);
    filters += ` AND tripwire_type = ANY($${params.length}::tripwire_type[])`;
  }
  const { rows } = await db.query<{
    minute: Date;
    info: number;
    warn: number;
    critical: number;
  }>(
    `SELECT date_trunc('minute', received_at, 'UTC') AS minute,
       count(*) FILTER (WHERE severity = 'INFO') AS info,
       count(*) FILTER (WHERE severity = 'WARN') AS warn,
       count(*) FILTER (WHERE severity = 'CRITICAL') AS critical
     FROM alerts
     WHERE received_at >= $1 AND received_at < $2${filters}
     GROUP BY 1`,
    params,
  );
  const byMinute = new Map(rows.map((r) => [r.minute.getTime(), r]));
  return Array.from({ length: buckets }, (_, i) => {
    const minute = start + i * MINUTE_MS;
    const r = byMinute.get(minute);
    return {
      minute: new Date(minute),
      counts: { INFO: r?.info ?? 0, WARN: r?.warn ?? 0, CRITICAL: r?.critical ?? 0 },
    };
  });
}
