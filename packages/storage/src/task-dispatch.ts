import type { TaskJson } from '@tripwire/wire';
import { appendAuditEntry } from './audit-log.js';
import { type Pool, type Queryable, withTransaction } from './pool.js';
import type { TaskPolicy } from './task-channels.js';
import { RETURNING_TASK, type TaskRow, toTaskJson } from './task-rows.js';

// Sending tasks to a host's agent. Only the stream holding the host's task channel is given
// tasks, and a host's dispatches take turns (an advisory lock per host), so two ingest
// instances, or an old and a new stream of one agent, never send the same QUEUED task twice
// and never exceed the host's running limit between them.

/** Ends every queued task of a host whose action its policy refuses: REFUSED, never sent. */
export async function refuseTasksByPolicy(
  pool: Pool,
  hostId: string,
  policy: Pick<TaskPolicy, 'enabledActions' | 'killSwitch'>,
): Promise<TaskJson[]> {
  return withTransaction(pool, async (db) => {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks SET state = 'REFUSED', finished_at = now(), version = version + 1, updated_at = now(),
         error = CASE WHEN $3 THEN 'response actions are switched off on this host (its kill switch file exists)'
                 ELSE 'this host''s agent does not enable ' || action END
       WHERE task_id IN (
         SELECT task_id FROM tasks WHERE host_id = $1 AND state = 'QUEUED'
           AND ($3 OR NOT action = ANY($2::text[]))
         FOR UPDATE SKIP LOCKED)
       ${RETURNING_TASK}`,
      [hostId, policy.enabledActions, policy.killSwitch],
    );
    const tasks = rows.map(toTaskJson);
    for (const task of tasks) await auditOutcome(db, task, 'ingest');
    return tasks;
  });
}

/** The outcome of a task in the audit log (`task.outcome`). */
export async function auditOutcome(db: Queryable, task: TaskJson, actor: string): Promise<void> {
  await appendAuditEntry(db, {
    actor,
    action: 'task.outcome',
    hostId: task.host_id,
    target: task.task_id,
    details: {
      task_action: task.action,
      state: task.state,
      error: task.error,
      exit_code: task.exit_code,
      truncated: task.truncated,
      result: task.result,
    },
  });
}

export interface ClaimOptions {
  hostId: string;
  /** The stream asking: it must hold the host's task channel. */
  streamId: string;
  /** Tasks DISPATCHED or RUNNING on the host at most (TASKS_MAX_RUNNING_PER_HOST). */
  maxRunning: number;
}

/**
 * The host's oldest QUEUED tasks, up to its free running slots, marked DISPATCHED to this
 * stream. Expired ones are left for the expiry sweep. Empty when the stream no longer holds
 * the channel.
 */
export async function claimTasksForHost(pool: Pool, o: ClaimOptions): Promise<TaskRow[]> {
  return withTransaction(pool, async (db) => {
    await db.query(
      "SELECT pg_advisory_xact_lock(hashtext('tripwire.tasks.dispatch'), hashtext($1))",
      [o.hostId],
    );
    const { rows } = await db.query<TaskRow>(
      `WITH holder AS (
         SELECT 1 FROM host_task_channels WHERE host_id = $1 AND stream_id = $2
       ), running AS (
         SELECT count(*) AS n FROM tasks WHERE host_id = $1 AND state IN ('DISPATCHED', 'RUNNING')
       ), next AS (
         SELECT task_id FROM tasks
         WHERE host_id = $1 AND state = 'QUEUED' AND expires_at > now() AND EXISTS (SELECT 1 FROM holder)
         ORDER BY created_at, task_id
         LIMIT greatest(0, $3 - (SELECT n FROM running))
         FOR UPDATE SKIP LOCKED
       )
       UPDATE tasks SET state = 'DISPATCHED', dispatched_at = now(), dispatched_stream = $2,
         dispatch_count = dispatch_count + 1, version = version + 1, updated_at = now()
       WHERE task_id IN (SELECT task_id FROM next)
       ${RETURNING_TASK}`,
      [o.hostId, o.streamId, o.maxRunning],
    );
    return rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  });
}

/**
 * A new stream of the host took the channel: the tasks sent before and not finished are
 * sent again on it (at least once; the agent runs a task id once and answers a repeat with
 * its stored outcome). Returns them, in creation order, with their cancel requests.
 */
export async function takeOverActiveTasks(
  pool: Pool,
  hostId: string,
  streamId: string,
): Promise<TaskRow[]> {
  const { rows } = await pool.query<TaskRow>(
    `UPDATE tasks SET dispatched_stream = $2, dispatch_count = dispatch_count + 1,
       version = version + 1, updated_at = now()
     WHERE host_id = $1 AND state IN ('DISPATCHED', 'RUNNING')
       AND EXISTS (SELECT 1 FROM host_task_channels WHERE host_id = $1 AND stream_id = $2)
     ${RETURNING_TASK}`,
    [hostId, streamId],
  );
  return rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
}

/** Which of these hosts have QUEUED tasks (one query for a sweep's dispatch pass). */
export async function hostsWithQueuedTasks(db: Queryable, hostIds: string[]): Promise<Set<string>> {
  if (hostIds.length === 0) return new Set();
  const { rows } = await db.query<{ host_id: string }>(
    `SELECT DISTINCT host_id FROM tasks WHERE state = 'QUEUED' AND host_id = ANY($1::uuid[])`,
    [hostIds],
  );
  return new Set(rows.map((r) => r.host_id));
}
