import type { TaskJson, TaskState } from '@tripwire/wire';
import { type Pool, withTransaction } from './pool.js';
import { auditOutcome } from './task-dispatch.js';
import { RETURNING_TASK, type TaskRow, toTaskJson } from './task-rows.js';

// Tasks the server ends on its own, run by every ingest instance's sweeper. Rows another
// sweeper (or a response) is changing are skipped (SKIP LOCKED): each task is ended, audited
// and returned for publishing once.

async function endTasks(
  pool: Pool,
  to: TaskState,
  error: string,
  which: string,
  params: unknown[],
) {
  return withTransaction(pool, async (db) => {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks SET state = '${to}', error = $1, finished_at = now(), version = version + 1, updated_at = now()
       WHERE task_id IN (SELECT task_id FROM tasks WHERE ${which} FOR UPDATE SKIP LOCKED LIMIT 1000)
       ${RETURNING_TASK}`,
      [error, ...params],
    );
    const tasks = rows.map(toTaskJson);
    for (const task of tasks) await auditOutcome(db, task, 'ingest');
    return tasks;
  });
}

/** Waiting tasks (QUEUED, AWAITING_APPROVAL) past their expires_at: EXPIRED, never sent. */
export function expireTasks(pool: Pool): Promise<TaskJson[]> {
  return endTasks(
    pool,
    'EXPIRED',
    'not sent to the agent before it expired (the host was offline or busy)',
    "state IN ('QUEUED', 'AWAITING_APPROVAL') AND expires_at <= now()",
    [],
  );
}

/**
 * Sent tasks with no outcome `graceS` after their timeout (counted from the start, or the
 * dispatch if the agent never said it started): TIMED_OUT. The caller tells the agent to
 * cancel them, and the host's next task can start.
 */
export function timeOutTasks(pool: Pool, graceS: number): Promise<TaskJson[]> {
  return endTasks(
    pool,
    'TIMED_OUT',
    'no outcome from the agent within the timeout (the server ended the task)',
    `state IN ('DISPATCHED', 'RUNNING')
     AND coalesce(started_at, dispatched_at) + make_interval(secs => timeout_s + $2::double precision) < now()`,
    [graceS],
  );
}

/**
 * Sent tasks of hosts whose agent has been gone longer than `graceS`: FAILED "agent
 * disconnected". Gone: no stream holds the host's task channel, or its instance stopped
 * renewing it for `leaseS` (the instance died). An agent back within the grace reports the
 * outcome itself.
 */
export function failDisconnectedTasks(
  pool: Pool,
  graceS: number,
  leaseS: number,
): Promise<TaskJson[]> {
  return endTasks(
    pool,
    'FAILED',
    'agent disconnected',
    `state IN ('DISPATCHED', 'RUNNING') AND dispatched_at < now() - make_interval(secs => $2::double precision)
     AND NOT EXISTS (
       SELECT 1 FROM host_task_channels c WHERE c.host_id = tasks.host_id AND (
         (c.stream_id IS NOT NULL AND c.seen_at > now() - make_interval(secs => $3::double precision))
         OR coalesce(c.disconnected_at, c.seen_at) > now() - make_interval(secs => $2::double precision)))`,
    [graceS, leaseS],
  );
}

/** Retention: finished tasks older than `before`, with their output. Returns how many. */
export async function deleteFinishedTasks(pool: Pool, before: Date): Promise<number> {
  const { rowCount } = await pool.query(
    'DELETE FROM tasks WHERE task_id IN (SELECT task_id FROM tasks WHERE finished_at < $1 LIMIT 10000)',
    [before],
  );
  return rowCount ?? 0;
}
