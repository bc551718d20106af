import type { Queryable } from './pool.js';

// The registry of ingest instances (migration 0014): an instance is alive while its session holds
// the advisory lock (INSTANCE_LOCK_SPACE, instance_id). The lock is session-level, so every call
// that takes or probes one must run on the connection that is meant to hold it.

const INSTANCE_LOCK = "hashtext('tripwire.ingest.instance'), $1::integer";
const SWEEP_LOCK = "hashtext('tripwire.ingest.sweep'), 0";

/** The session setting that stamps alert_ids.stored_by on each ingest connection. */
export const INGEST_INSTANCE_SETTING = 'tripwire.ingest_instance';

/** Takes `instanceId`'s lock on this session, unless another session holds it. */
async function tryInstanceLock(db: Queryable, instanceId: number): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(${INSTANCE_LOCK}) AS locked`,
    [instanceId],
  );
  return rows[0]!.locked;
}

/**
 * Takes `instanceId`'s lock on this session and registers it, unless another live instance holds
 * the lock or a row of that id is left to sweep: false then (pick another id). On success the
 * instance is alive until this session ends.
 */
export async function claimIngestInstance(db: Queryable, instanceId: number): Promise<boolean> {
  if (!(await tryInstanceLock(db, instanceId))) return false;
  const inserted = await db.query(
    'INSERT INTO ingest_instances (instance_id) VALUES ($1) ON CONFLICT (instance_id) DO NOTHING',
    [instanceId],
  );
  if (inserted.rowCount === 1) return true;
  await db.query(`SELECT pg_advisory_unlock(${INSTANCE_LOCK})`, [instanceId]);
  return false;
}

/**
 * After the session that held the lock was lost (a network cut): takes the lock again on a new
 * session and puts the row back (a sweeper may have swept and removed it meanwhile: what it
 * republished is also in this instance's backlog, and the fan-out drops the second copy).
 * False if the lock is held elsewhere.
 */
export async function reclaimIngestInstance(db: Queryable, instanceId: number): Promise<boolean> {
  if (!(await tryInstanceLock(db, instanceId))) return false;
  await db.query(
    `INSERT INTO ingest_instances (instance_id) VALUES ($1)
       ON CONFLICT (instance_id) DO UPDATE SET dead_since = NULL`,
    [instanceId],
  );
  return true;
}

/** A clean stop with nothing left to publish: nothing of this instance needs a sweep. */
export async function forgetIngestInstance(db: Queryable, instanceId: number): Promise<void> {
  await db.query('DELETE FROM ingest_instances WHERE instance_id = $1', [instanceId]);
}

/** One sweeper at a time (on the session that will release it): true if this one may sweep. */
export async function tryTakeSweepTurn(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(${SWEEP_LOCK}) AS locked`,
  );
  return rows[0]!.locked;
}

export async function endSweepTurn(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_unlock(${SWEEP_LOCK})`);
}

/** Another instance as the registry has it. */
export interface IngestInstanceRow {
  instanceId: number;
  /** Whether its lock was free when looked at now (it is dead). */
  dead: boolean;
  /** Dead for longer than the grace asked for: its sweep may run. */
  due: boolean;
}

/**
 * Every other registered instance, each probed: whether its lock is free (taken and released at
 * once), recording when it was first found so (dead_since) and clearing that if it came back.
 */
export async function probeIngestInstances(
  db: Queryable,
  self: number,
  graceMs: number,
): Promise<IngestInstanceRow[]> {
  const { rows } = await db.query<{ instance_id: number; dead: boolean; due: boolean }>(
    `WITH probed AS MATERIALIZED (
       SELECT instance_id, pg_try_advisory_lock(hashtext('tripwire.ingest.instance'), instance_id) AS dead
       FROM ingest_instances WHERE instance_id <> $1
     ), released AS MATERIALIZED (
       SELECT instance_id, dead,
         CASE WHEN dead THEN pg_advisory_unlock(hashtext('tripwire.ingest.instance'), instance_id) END AS unlocked
       FROM probed
     )
     UPDATE ingest_instances i
       SET dead_since = CASE WHEN r.dead THEN coalesce(i.dead_since, now()) END
       FROM released r WHERE i.instance_id = r.instance_id
       RETURNING i.instance_id, r.dead,
         r.dead AND i.dead_since IS NOT NULL AND i.dead_since < now() - make_interval(secs => $2 / 1000.0) AS due`,
    [self, graceMs],
  );
  return rows.map((r) => ({ instanceId: r.instance_id, dead: r.dead, due: r.due }));
}
