import type { BusMessage } from '@tripwire/bus';
import type { TaskEventKind, TaskJson, TaskOutputJson } from '@tripwire/wire';
import type { Queryable } from './pool.js';

/** The bus message for a task change (on the `events` stream, for the fan-out). */
export function taskMessage(
  event: TaskEventKind,
  task: TaskJson,
  output?: TaskOutputJson,
): BusMessage {
  return { type: 'task', data: output ? { event, task, output } : { event, task } };
}

/**
 * PostgreSQL channel on which task changes that an ingest instance must act on are announced
 * (a task queued or approved, a cancel requested). NOTIFY is sent at COMMIT of the
 * transaction that made the change, so a listener never hears of a row it cannot read yet,
 * whoever made it (ingest's ResponseService, the fan-out's REST API): see
 * docs/response-actions.md "Which instance dispatches".
 */
export const TASK_NOTIFY_CHANNEL = 'tripwire_tasks';

export type TaskNotifyKind = 'queued' | 'cancel';

export interface TaskNotification {
  host_id: string;
  task_id: string;
  kind: TaskNotifyKind;
}

/** Announces a change inside the caller's transaction (delivered when it commits). */
export async function notifyTaskChange(db: Queryable, n: TaskNotification): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [TASK_NOTIFY_CHANNEL, JSON.stringify(n)]);
}

/** A notification's payload, or null if it is not one of ours. */
export function parseTaskNotification(payload: string | undefined): TaskNotification | null {
  try {
    const n = JSON.parse(payload ?? '') as Partial<TaskNotification>;
    if (
      typeof n.host_id === 'string' &&
      typeof n.task_id === 'string' &&
      (n.kind === 'queued' || n.kind === 'cancel')
    )
      return n as TaskNotification;
  } catch {}
  return null;
}
