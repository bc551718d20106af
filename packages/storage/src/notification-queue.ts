import type { Queryable } from './pool.js';

export const DELIVERY_STATES = ['pending', 'sending', 'delivered', 'dead'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface NotificationDelivery {
  deliveryId: string;
  routeId: string;
  eventKey: string;
  event: Record<string, unknown>;
  state: DeliveryState;
  /** Attempts so far, this one included for a claimed row (the fencing token of its lease). */
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  queuedAt: Date;
  createdAt: Date;
  deliveredAt: Date | null;
  digestKey: string | null;
}

interface DeliveryRow {
  delivery_id: string;
  route_id: string;
  event_key: string;
  event: Record<string, unknown>;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  queued_at: Date;
  created_at: Date;
  delivered_at: Date | null;
  digest_key: string | null;
}

const COLUMNS = `delivery_id, route_id, event_key, event, state, attempts, next_attempt_at, last_error,
  queued_at, created_at, delivered_at, digest_key`;

const toDelivery = (r: DeliveryRow): NotificationDelivery => ({
  deliveryId: r.delivery_id,
  routeId: r.route_id,
  eventKey: r.event_key,
  event: r.event,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error,
  queuedAt: r.queued_at,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
  digestKey: r.digest_key,
});

/**
 * Takes up to `limit` due rows (pending and due, or sending with an expired lease: a worker
 * that died mid-send) and leases them for `leaseS`. SKIP LOCKED: two workers never take the
 * same row; the lease (next_attempt_at) keeps it theirs after this transaction commits.
 */
export async function claimDueDeliveries(
  db: Queryable,
  limit: number,
  leaseS: number,
): Promise<NotificationDelivery[]> {
  const { rows } = await db.query<DeliveryRow>(
    `WITH due AS (
       SELECT delivery_id FROM notification_deliveries
       WHERE state IN ('pending', 'sending') AND next_attempt_at <= now()
       ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     UPDATE notification_deliveries d SET state = 'sending', attempts = d.attempts + 1,
       next_attempt_at = now() + make_interval(secs => $2)
     FROM due WHERE d.delivery_id = due.delivery_id
     RETURNING d.*`,
    [limit, leaseS],
  );
  return rows.map(toDelivery).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** A leased row as the worker holds it: id and the attempt its lease belongs to. */
export interface LeasedDelivery {
  deliveryId: string;
  attempts: number;
}

const leaseParams = (rows: LeasedDelivery[]) => [
  rows.map((r) => r.deliveryId),
  rows.map((r) => r.attempts),
];

const LEASED = `FROM unnest($1::uuid[], $2::int[]) AS l(id, attempts)
  WHERE d.delivery_id = l.id AND d.attempts = l.attempts AND d.state = 'sending'`;

/** Marks sent rows delivered; a row whose lease moved on (another attempt) is left alone. */
export async function markDeliveriesDelivered(
  db: Queryable,
  rows: LeasedDelivery[],
  digestKey: string | null = null,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE notification_deliveries d SET state = 'delivered', delivered_at = now(), last_error = NULL,
       digest_key = $3 ${LEASED}`,
    [...leaseParams(rows), digestKey],
  );
  return rowCount ?? 0;
}

export interface FailurePolicy {
  maxAttempts: number;
  maxAgeS: number;
  /** Seconds until the next attempt, given the attempts made. */
  delayS: (attempts: number) => number;
}

/**
 * A failed attempt: back to pending after the policy's delay, or dead when the attempts or
 * the age are used up. Returns how many went dead.
 */
export async function markDeliveriesFailed(
  db: Queryable,
  rows: LeasedDelivery[],
  error: string,
  policy: FailurePolicy,
): Promise<number> {
  if (rows.length === 0) return 0;
  const delays = rows.map((r) => policy.delayS(r.attempts));
  const { rows: out } = await db.query<{ dead: number }>(
    `WITH l AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::float8[]) AS l(id, attempts, delay_s)),
     u AS (
       UPDATE notification_deliveries d SET last_error = left($4, 1000),
         state = CASE WHEN d.attempts >= $5 OR d.queued_at <= now() - make_interval(secs => $6)
                 THEN 'dead'::notification_delivery_state ELSE 'pending' END,
         next_attempt_at = now() + make_interval(secs => l.delay_s)
       FROM l WHERE d.delivery_id = l.id AND d.attempts = l.attempts AND d.state = 'sending'
       RETURNING d.state)
     SELECT count(*) FILTER (WHERE state = 'dead')::int AS dead FROM u`,
    [...leaseParams(rows), delays, error, policy.maxAttempts, policy.maxAgeS],
  );
  return out[0]?.dead ?? 0;
}

/** Hands leased rows back (throttled: due at `at`) without counting the attempt. */
export async function deferDeliveries(
  db: Queryable,
  rows: LeasedDelivery[],
  at: Date,
): Promise<void> {
  await db.query(
    `UPDATE notification_deliveries d SET state = 'pending', attempts = d.attempts - 1, next_attempt_at = $3
     ${LEASED}`,
    [...leaseParams(rows), at],
  );
}

/**
 * Reserves up to `wanted` messages of a route's per-minute budget (a fixed one-minute window,
 * under the route row's lock so instances share it). Returns how many were granted and when
 * the window ends; an unthrottled route grants everything.
 */
export async function reserveRouteBudget(
  db: Queryable,
  routeId: string,
  wanted: number,
): Promise<{ granted: number; windowEndsAt: Date }> {
  const { rows } = await db.query<{ granted: number; window_ends_at: Date }>(
    `WITH cur AS (
       -- Read under the row lock: after waiting for another reserver, this sees its update.
       SELECT route_id, throttle_per_minute AS cap, window_sent AS sent,
         (window_started_at IS NULL OR window_started_at <= now() - interval '1 minute') AS fresh
       FROM notification_routes WHERE route_id = $1 FOR UPDATE),
     g AS (
       SELECT cur.*, CASE WHEN cap IS NULL THEN $2
         ELSE greatest(0, least($2, cap - CASE WHEN fresh THEN 0 ELSE sent END)) END AS granted
       FROM cur)
     UPDATE notification_routes r SET
       window_started_at = CASE WHEN g.fresh THEN now() ELSE r.window_started_at END,
       window_sent = CASE WHEN g.fresh THEN 0 ELSE r.window_sent END + g.granted
     FROM g WHERE r.route_id = g.route_id
     RETURNING g.granted, r.window_started_at + interval '1 minute' AS window_ends_at`,
    [routeId, wanted],
  );
  return rows[0]
    ? { granted: rows[0].granted, windowEndsAt: rows[0].window_ends_at }
    : { granted: 0, windowEndsAt: new Date() };
}

/** An operator's retry of a dead delivery: due now, with a fresh attempt budget and age. */
export async function retryDeadDelivery(
  db: Queryable,
  deliveryId: string,
): Promise<NotificationDelivery | null> {
  const { rows } = await db.query<DeliveryRow>(
    `UPDATE notification_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),
       queued_at = now() WHERE delivery_id = $1 AND state = 'dead' RETURNING ${COLUMNS}`,
    [deliveryId],
  );
  return rows[0] ? toDelivery(rows[0]) : null;
}

export async function getDelivery(
  db: Queryable,
  deliveryId: string,
): Promise<NotificationDelivery | null> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT ${COLUMNS} FROM notification_deliveries WHERE delivery_id = $1`,
    [deliveryId],
  );
  return rows[0] ? toDelivery(rows[0]) : null;
}

export interface DeliveryQuery {
  state?: DeliveryState;
  routeId?: string;
  limit: number;
}

/** Newest first, optionally one state or one route's. */
export async function listDeliveries(
  db: Queryable,
  q: DeliveryQuery,
): Promise<NotificationDelivery[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT ${COLUMNS} FROM notification_deliveries
     WHERE ($1::notification_delivery_state IS NULL OR state = $1)
       AND ($2::uuid IS NULL OR route_id = $2)
     ORDER BY created_at DESC, delivery_id DESC LIMIT $3`,
    [q.state ?? null, q.routeId ?? null, q.limit],
  );
  return rows.map(toDelivery);
}

/** For the metrics: rows waiting (pending or sending), dead, and the oldest waiting one's age. */
export async function deliveryQueueStats(
  db: Queryable,
): Promise<{ waiting: number; dead: number; oldestWaitingAgeS: number }> {
  const { rows } = await db.query<{ waiting: number; dead: number; oldest: number | null }>(
    `SELECT count(*) FILTER (WHERE state IN ('pending', 'sending'))::int AS waiting,
       count(*) FILTER (WHERE state = 'dead')::int AS dead,
       extract(epoch FROM now() - min(queued_at) FILTER (WHERE state IN ('pending', 'sending')))::float8 AS oldest
     FROM notification_deliveries WHERE state <> 'delivered'`,
  );
  const r = rows[0]!;
  return { waiting: r.waiting, dead: r.dead, oldestWaitingAgeS: r.oldest ?? 0 };
}
