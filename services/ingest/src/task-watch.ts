import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { type ServerWritableStream, status } from '@grpc/grpc-js';
import type { WatchTaskRequest, WatchTaskResponse } from '@tripwire/proto';
import { getTask, listTaskOutput, type Pool, TaskNotFoundError } from '@tripwire/storage';
import { isFinalTaskState, type TaskJson, type TaskOutputJson } from '@tripwire/wire';
import { toWireOutput, toWireTask } from './response-wire.js';
import type { TaskManager } from './task-manager.js';

export type WatchCall = ServerWritableStream<WatchTaskRequest, WatchTaskResponse>;

/** Chunks read per query; a watcher holds at most this many in memory. */
const OUTPUT_PAGE = 500;

/**
 * The floor between two reads of one watcher when woken by changes: a task changing a thousand
 * times a second (an output flood) costs each watcher 20 reads a second, not a thousand.
 */
const MIN_READ_INTERVAL_MS = 50;

/**
 * WatchTask: the task, its stored output, then every change, until the task is final and all
 * its output was sent. Reads PostgreSQL each time it wakes: at once when this instance changed
 * the task (the manager's `changes`), else every `pollMs` (a task running on another
 * instance's stream), so it never misses a change and never needs the bus.
 */
export async function watchTask(
  call: WatchCall,
  pool: Pool,
  manager: TaskManager,
  pollMs: number,
): Promise<void> {
  const taskId = call.request.taskId;
  const task = await getTask(pool, taskId);
  if (!task) throw new TaskNotFoundError(taskId);
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort());
  call.on('close', () => abort.abort());
  const stop = () => abort.abort();
  manager.stopSignal.addEventListener('abort', stop);
  try {
    await follow(call, pool, manager, pollMs, task, abort.signal);
  } finally {
    manager.stopSignal.removeEventListener('abort', stop);
  }
  if (manager.stopSignal.aborted && !call.cancelled)
    call.emit('error', {
      code: status.UNAVAILABLE,
      details: 'this ingest instance is shutting down; watch again',
    });
}

async function follow(
  call: WatchCall,
  pool: Pool,
  manager: TaskManager,
  pollMs: number,
  first: TaskJson,
  signal: AbortSignal,
): Promise<void> {
  const taskId = first.task_id;
  let task = first;
  let sent = -1;
  let after = call.request.afterSequence;
  let lastRead = Date.now();
  while (!signal.aborted) {
    if (task.version !== sent) {
      await write(call, { event: { $case: 'task', task: toWireTask(task) } }, signal);
      sent = task.version;
    }
    after = await sendOutput(call, pool, taskId, after, signal);
    if (isFinalTaskState(task.state) && (await pageDone(pool, taskId, after))) break;
    await wake(manager, taskId, pollMs, signal);
    const wait = lastRead + MIN_READ_INTERVAL_MS - Date.now();
    if (wait > 0) await delay(wait, undefined, { signal }).catch(() => undefined);
    lastRead = Date.now();
    task = (await getTask(pool, taskId)) as TaskJson;
  }
  if (!signal.aborted) call.end();
}

async function sendOutput(
  call: WatchCall,
  pool: Pool,
  taskId: string,
  after: number,
  signal: AbortSignal,
): Promise<number> {
  for (;;) {
    let page: TaskOutputJson[] = await listTaskOutput(pool, taskId, after, OUTPUT_PAGE);
    const full = page.length === OUTPUT_PAGE;
    // A full page may end partway through a sequence (stdout and stderr): keep that one for the next read.
    const last = page[page.length - 1]?.sequence;
    if (full && page[0]!.sequence !== last) page = page.filter((o) => o.sequence !== last);
    for (const output of page)
      await write(call, { event: { $case: 'output', output: toWireOutput(output) } }, signal);
    if (page.length) after = page[page.length - 1]!.sequence;
    if (!full) return after;
  }
}

const pageDone = async (pool: Pool, taskId: string, after: number) =>
  (await listTaskOutput(pool, taskId, after, 1)).length === 0;

/** Writes, and waits while the client is not reading (so a slow watcher holds one page, not the task). */
async function write(
  call: WatchCall,
  message: WatchTaskResponse,
  signal?: AbortSignal,
): Promise<void> {
  if (!call.write(message)) await once(call, 'drain', signal ? { signal } : {});
}

async function wake(
  manager: TaskManager,
  taskId: string,
  pollMs: number,
  signal: AbortSignal,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      manager.changes.off(taskId, done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, pollMs);
    manager.changes.on(taskId, done);
    signal.addEventListener('abort', done);
  });
}
