import {
  isTaskAction,
  TASK_ACTIONS,
  TASK_STATES,
  type TaskAction,
  type TaskJson,
  TaskParameterError,
  type TaskState,
  validateTaskParameters,
} from '@tripwire/wire';
import { appendAuditEntry } from './audit-log.js';
import { type Pool, type Queryable, withTransaction } from './pool.js';
import { notifyTaskChange } from './task-events.js';
import { RETURNING_TASK, SELECT_TASKS, type TaskRow, toTaskJson } from './task-rows.js';
import { assertTaskTransition } from './task-states.js';

// Operators' side of tasks: create, approve, cancel, read. The agent's side (dispatch,
// output, outcomes, sweeps) is task-lifecycle.ts. Every change here is audited in the same
// transaction, and what an ingest instance must act on is announced by NOTIFY at commit.

export class TaskNotFoundError extends Error {
  override name = 'TaskNotFoundError';
  constructor(readonly taskId: string) {
    super(`no task ${taskId}`);
  }
}

/** A request that cannot be applied as given; `field` names the culprit. */
export class TaskValidationError extends TaskParameterError {
  override name = 'TaskValidationError';
}

/** Too many tasks: `scope` says whose limit (the operator's, the host's, its queue's). */
export class TaskRateLimitError extends Error {
  override name = 'TaskRateLimitError';
  constructor(
    readonly scope: 'operator' | 'host' | 'host_queue',
    message: string,
  ) {
    super(message);
  }
}

/** The creator of a shell task asked to approve it: approval takes a second person. */
export class TaskSelfApprovalError extends Error {
  override name = 'TaskSelfApprovalError';
  constructor(
    readonly taskId: string,
    message = `task ${taskId} was created by you: a different admin must approve it`,
  ) {
    super(message);
  }
}

/** How an API token acts (`auditActor` of `apiTokenOperatorName`, @tripwire/operator-auth). */
const TOKEN_ACTOR_PREFIX = 'operator:token:';

/**
 * Whether `approver` is, or stands for, the person who created the task: the creator itself,
 * or an API token that person made (or a token made by such a token, …). Without this an admin
 * mints an admin API token and approves their own shell task with it.
 */
async function isCreatorOrTheirToken(db: Queryable, creator: string, approver: string) {
  const { rows } = await db.query(
    `WITH RECURSIVE behind(actor) AS (
       SELECT $1::text
       UNION
       SELECT t.created_by FROM api_tokens t JOIN behind b ON b.actor = $3 || t.name
     )
     SELECT 1 FROM behind WHERE actor = $2`,
    [creator, approver, TOKEN_ACTOR_PREFIX],
  );
  return rows.length > 0;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkUuid(field: string, value: unknown): void {
  if (typeof value !== 'string' || !UUID.test(value))
    throw new TaskValidationError(field, 'must be a UUID');
}

function checkActor(actor: string): void {
  if (typeof actor !== 'string' || actor.trim() === '')
    throw new TaskValidationError('actor', 'every task change needs an actor');
}

function checkSeconds(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new TaskValidationError(field, `must be an integer from 1 to ${max}`);
}

/** Bounds every caller of createTask applies (from the service's config). */
export interface TaskLimits {
  /** When the request gives no timeout. */
  defaultTimeoutS: number;
  maxTimeoutS: number;
  /** When the request gives no expiry: how long a task may wait for its host. */
  defaultExpiresInS: number;
  maxExpiresInS: number;
  /** Output kept per task (TASK_OUTPUT_MAX_BYTES). */
  maxOutputBytes: number;
  /** Tasks one actor may create per minute (0: no limit). */
  perOperatorPerMinute: number;
  /** Tasks one host may be given per minute (0: no limit). */
  perHostPerMinute: number;
  /** Tasks waiting for one host (QUEUED or AWAITING_APPROVAL) at most (0: no limit). */
  maxQueuedPerHost: number;
}

export const DEFAULT_TASK_LIMITS: TaskLimits = {
  defaultTimeoutS: 60,
  maxTimeoutS: 3600,
  defaultExpiresInS: 3600,
  maxExpiresInS: 7 * 86400,
  maxOutputBytes: 1024 * 1024,
  perOperatorPerMinute: 60,
  perHostPerMinute: 30,
  maxQueuedPerHost: 100,
};

export interface NewTask {
  hostId: string;
  action: TaskAction | string;
  parameters?: unknown;
  timeoutS?: number;
  expiresInS?: number;
  alertId?: string | null;
  incidentId?: string | null;
  /** The task waits in AWAITING_APPROVAL for another admin (TASKS_SHELL_APPROVAL for shell). */
  requireApproval?: boolean;
}

function checkNewTask(input: NewTask, limits: TaskLimits) {
  checkUuid('host_id', input.hostId);
  if (input.alertId != null) checkUuid('alert_id', input.alertId);
  if (input.incidentId != null) checkUuid('incident_id', input.incidentId);
  const timeoutS = input.timeoutS || limits.defaultTimeoutS;
  checkSeconds('timeout_seconds', timeoutS, limits.maxTimeoutS);
  const expiresInS = input.expiresInS || limits.defaultExpiresInS;
  checkSeconds('expires_in_seconds', expiresInS, limits.maxExpiresInS);
  const { action, parameters } = validateTaskParameters(input.action, input.parameters);
  return { action, parameters, timeoutS, expiresInS };
}

/** Refuses a creation over the actor's, the host's or the host queue's limit. */
async function checkRate(db: Queryable, hostId: string, actor: string, limits: TaskLimits) {
  const { rows } = await db.query<{ by_actor: number; by_host: number; waiting: number }>(
    `SELECT
       (SELECT count(*) FROM tasks WHERE created_by = $2 AND created_at > now() - interval '1 minute') AS by_actor,
       (SELECT count(*) FROM tasks WHERE host_id = $1 AND created_at > now() - interval '1 minute') AS by_host,
       (SELECT count(*) FROM tasks WHERE host_id = $1 AND state IN ('QUEUED', 'AWAITING_APPROVAL')) AS waiting`,
    [hostId, actor],
  );
  const r = rows[0]!;
  if (limits.perOperatorPerMinute && r.by_actor >= limits.perOperatorPerMinute)
    throw new TaskRateLimitError(
      'operator',
      `${actor} created ${r.by_actor} tasks in the last minute (at most ${limits.perOperatorPerMinute}): wait a minute`,
    );
  if (limits.perHostPerMinute && r.by_host >= limits.perHostPerMinute)
    throw new TaskRateLimitError(
      'host',
      `this host was given ${r.by_host} tasks in the last minute (at most ${limits.perHostPerMinute}): wait a minute`,
    );
  if (limits.maxQueuedPerHost && r.waiting >= limits.maxQueuedPerHost)
    throw new TaskRateLimitError(
      'host_queue',
      `this host already has ${r.waiting} tasks waiting (at most ${limits.maxQueuedPerHost}): cancel some or let them run`,
    );
}

/**
 * A task for a host, QUEUED (or AWAITING_APPROVAL): validated, rate limited, audited
 * (`task.create` with actor, host, action and parameters) and announced in one transaction.
 */
export async function createTask(
  pool: Pool,
  input: NewTask,
  actor: string,
  limits: TaskLimits = DEFAULT_TASK_LIMITS,
): Promise<TaskJson> {
  checkActor(actor);
  const { action, parameters, timeoutS, expiresInS } = checkNewTask(input, limits);
  const state: TaskState = input.requireApproval ? 'AWAITING_APPROVAL' : 'QUEUED';
  return withTransaction(pool, async (db) => {
    const host = await db.query('SELECT 1 FROM hosts WHERE host_id = $1 FOR SHARE', [input.hostId]);
    if (host.rowCount === 0) throw new TaskValidationError('host_id', `no host ${input.hostId}`);
    // Creations for one host and by one actor take turns, so the counts below are exact.
    await db.query(
      "SELECT pg_advisory_xact_lock(hashtext('tripwire.tasks.create'), hashtext($1)), pg_advisory_xact_lock(hashtext('tripwire.tasks.create'), hashtext($2))",
      [input.hostId, actor],
    );
    await checkRate(db, input.hostId, actor, limits);
    const { rows } = await db.query<TaskRow>(
      `INSERT INTO tasks (host_id, action, parameters, state, created_by, alert_id, incident_id,
         timeout_s, max_output_bytes, expires_at)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
       ${RETURNING_TASK}`,
      [
        input.hostId,
        action,
        JSON.stringify(parameters),
        state,
        actor,
        input.alertId ?? null,
        input.incidentId ?? null,
        timeoutS,
        limits.maxOutputBytes,
        expiresInS,
      ],
    );
    const task = toTaskJson(rows[0]!);
    await appendAuditEntry(db, {
      actor,
      action: 'task.create',
      hostId: task.host_id,
      target: task.task_id,
      details: {
        task_action: action,
        parameters,
        state,
        timeout_s: timeoutS,
        expires_at: task.expires_at,
        alert_id: task.alert_id,
        incident_id: task.incident_id,
      },
    });
    if (state === 'QUEUED')
      await notifyTaskChange(db, { host_id: task.host_id, task_id: task.task_id, kind: 'queued' });
    return task;
  });
}

export async function getTask(db: Queryable, taskId: string): Promise<TaskJson | null> {
  checkUuid('task_id', taskId);
  const { rows } = await db.query<TaskRow>(`${SELECT_TASKS} WHERE tasks.task_id = $1`, [taskId]);
  return rows[0] ? toTaskJson(rows[0]) : null;
}

/** Locks a task for a change in the caller's transaction; TaskNotFoundError if there is none. */
export async function lockTask(db: Queryable, taskId: string): Promise<TaskRow> {
  checkUuid('task_id', taskId);
  const { rows } = await db.query<TaskRow>(
    `${SELECT_TASKS} WHERE tasks.task_id = $1 FOR UPDATE OF tasks`,
    [taskId],
  );
  if (!rows[0]) throw new TaskNotFoundError(taskId);
  return rows[0];
}

/**
 * A second admin lets a shell task run: AWAITING_APPROVAL → QUEUED. The caller checks the
 * role; the creator never approves their own task (TaskSelfApprovalError), neither by their
 * own name nor through an API token they made (a token made the task, its maker approves),
 * and an API token never approves at all: approval is a second person's look.
 */
export async function approveTask(pool: Pool, taskId: string, actor: string): Promise<TaskJson> {
  checkActor(actor);
  return withTransaction(pool, async (db) => {
    const before = await lockTask(db, taskId);
    assertTaskTransition(before.state, 'QUEUED');
    if (actor.startsWith(TOKEN_ACTOR_PREFIX))
      throw new TaskSelfApprovalError(
        taskId,
        `an API token cannot approve task ${taskId}: a second admin must approve it in person`,
      );
    if (await isCreatorOrTheirToken(db, before.created_by, actor))
      throw new TaskSelfApprovalError(taskId);
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks SET state = 'QUEUED', approved_by = $2, approved_at = now(),
         version = version + 1, updated_at = now()
       WHERE task_id = $1 ${RETURNING_TASK}`,
      [taskId, actor],
    );
    const task = toTaskJson(rows[0]!);
    await appendAuditEntry(db, {
      actor,
      action: 'task.approve',
      hostId: task.host_id,
      target: taskId,
      details: {
        task_action: task.action,
        parameters: task.parameters,
        created_by: task.created_by,
      },
    });
    await notifyTaskChange(db, { host_id: task.host_id, task_id: taskId, kind: 'queued' });
    return task;
  });
}

/**
 * An operator cancels a task. One still waiting ends CANCELLED at once; one sent to the agent
 * is marked (cancel_requested_by) and the agent is told: it ends CANCELLED when the agent
 * confirms, or by the server's timeout. A task already final is refused
 * (InvalidTaskTransitionError); a second cancel of a dispatched task changes nothing.
 */
export async function requestTaskCancel(
  pool: Pool,
  taskId: string,
  actor: string,
  reason = '',
): Promise<TaskJson> {
  checkActor(actor);
  if (typeof reason !== 'string' || reason.length > 1000 || reason.includes('\0'))
    throw new TaskValidationError('reason', 'must be text of at most 1000 characters');
  return withTransaction(pool, async (db) => {
    const before = await lockTask(db, taskId);
    assertTaskTransition(before.state, 'CANCELLED');
    if (before.cancel_requested_by !== null) return toTaskJson(before);
    const waiting = before.state === 'QUEUED' || before.state === 'AWAITING_APPROVAL';
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks SET cancel_requested_by = $2, cancel_requested_at = now(), cancel_reason = $3,
         state = CASE WHEN $4 THEN 'CANCELLED'::task_state ELSE state END,
         finished_at = CASE WHEN $4 THEN now() ELSE finished_at END,
         error = CASE WHEN $4 THEN 'cancelled before it was sent to the agent' ELSE error END,
         version = version + 1, updated_at = now()
       WHERE task_id = $1 ${RETURNING_TASK}`,
      [taskId, actor, reason, waiting],
    );
    const task = toTaskJson(rows[0]!);
    await appendAuditEntry(db, {
      actor,
      action: 'task.cancel',
      hostId: task.host_id,
      target: taskId,
      details: { task_action: task.action, from: before.state, to: task.state, reason },
    });
    if (!waiting)
      await notifyTaskChange(db, { host_id: task.host_id, task_id: taskId, kind: 'cancel' });
    return task;
  });
}

export interface TaskQuery {
  hostId?: string;
  states?: TaskState[];
  actions?: TaskAction[];
  alertId?: string;
  incidentId?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** The previous page's next_cursor. */
  cursor?: string | null;
}

export interface TaskPage {
  /** Newest first. */
  tasks: TaskJson[];
  /** Give it back as `cursor` for the next page; null after the last. */
  next_cursor: string | null;
}

function taskFilters(query: TaskQuery): { where: string[]; params: unknown[] } {
  // Each condition with its value; numbered $1, $2 … in this order.
  const conditions: Array<[(p: string) => string, unknown]> = [];
  for (const [field, value, column] of [
    ['host_id', query.hostId, 'host_id'],
    ['alert_id', query.alertId, 'alert_id'],
    ['incident_id', query.incidentId, 'incident_id'],
  ] as const) {
    if (value === undefined) continue;
    checkUuid(field, value);
    conditions.push([(p) => `tasks.${column} = ${p}`, value]);
  }
  if (query.states?.length) {
    for (const s of query.states)
      if (!TASK_STATES.includes(s))
        throw new TaskValidationError('state', `must be one of ${TASK_STATES.join(', ')}`);
    conditions.push([(p) => `tasks.state = ANY(${p}::task_state[])`, query.states]);
  }
  if (query.actions?.length) {
    for (const a of query.actions)
      if (!isTaskAction(a))
        throw new TaskValidationError('action', `must be one of ${TASK_ACTIONS.join(', ')}`);
    conditions.push([(p) => `tasks.action = ANY(${p}::text[])`, query.actions]);
  }
  if (query.cursor) {
    checkUuid('cursor', query.cursor);
    // Keyset: strictly after the previous page's last task in (created_at, task_id) order.
    conditions.push([
      (p) =>
        `(tasks.created_at, tasks.task_id) < (SELECT c.created_at, c.task_id FROM tasks c WHERE c.task_id = ${p})`,
      query.cursor,
    ]);
  }
  return {
    where: conditions.map(([clause], i) => clause(`$${i + 1}`)),
    params: conditions.map(([, value]) => value),
  };
}

/** Tasks newest first, filtered by host, state, action, alert or incident; keyset paging. */
export async function listTasks(db: Queryable, query: TaskQuery = {}): Promise<TaskPage> {
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw new TaskValidationError('limit', 'must be an integer from 1 to 500');
  const { where, params } = taskFilters(query);
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const { rows } = await db.query<TaskRow>(
    `${SELECT_TASKS} ${filter} ORDER BY tasks.created_at DESC, tasks.task_id DESC LIMIT $${params.length + 1}`,
    [...params, limit + 1],
  );
  const page = rows.slice(0, limit).map(toTaskJson);
  return { tasks: page, next_cursor: rows.length > limit ? page[page.length - 1]!.task_id : null };
}
