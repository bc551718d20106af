import type { BusPublisher } from '@tripwire/bus';
import {
  approveTask,
  getTask,
  listTaskOutput,
  listTasks,
  type Pool,
  readTaskFilePage,
  requestTaskCancel,
  taskMessage,
} from '@tripwire/storage';
import {
  isFinalTaskState,
  PRINTABLE_TEXT,
  TASK_ACTIONS,
  TASK_STATES,
  type TaskAction,
  type TaskJson,
  type TaskState,
} from '@tripwire/wire';
import { z } from 'zod';
import { hostParam, integerParam, listParam, parseBody, UUID } from './api-params.js';
import { downloadHeaders, safeFilename } from './file-download.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';
import { requireTaskRole, taskError, taskIdParam } from './task-api-errors.js';

const cancelSchema = z.strictObject({
  reason: z
    .string({ message: 'must be a string' })
    .max(1000, 'must be at most 1000 characters')
    .regex(PRINTABLE_TEXT, 'must not contain control characters other than newline and tab')
    .optional(),
});
const approveSchema = z.strictObject({});

/** The most output chunks one page of GET /api/tasks/{id}/output holds. */
const MAX_OUTPUT_PAGE = 1000;

export interface TasksApiDeps {
  pool: Pool;
  /** The events stream: browsers see each change as a `task` frame. */
  eventsPublisher: BusPublisher;
}

/** /api/tasks: list, read, output, cancel, approve (docs/response-actions.md, openapi.yaml). */
export function registerTasksApi(ctx: RouteContext, { pool, eventsPublisher }: TasksApiDeps) {
  const announce = (task: TaskJson) =>
    eventsPublisher.publish([
      taskMessage(isFinalTaskState(task.state) ? 'finished' : 'updated', task),
    ]);

  route(ctx, 'get', '/api/tasks', 'any', async ({ query }) => {
    const cursor = query.get('cursor');
    if (cursor && !UUID.test(cursor))
      throw new ApiError(400, 'invalid_parameter', 'cursor must be a next_cursor this API gave', {
        cursor: 'not a cursor',
      });
    const page = await listTasks(pool, {
      ...(hostParam(query) ? { hostId: hostParam(query)!.toLowerCase() } : {}),
      ...(hostParam(query, 'alert_id')
        ? { alertId: hostParam(query, 'alert_id')!.toLowerCase() }
        : {}),
      ...(hostParam(query, 'incident_id')
        ? { incidentId: hostParam(query, 'incident_id')!.toLowerCase() }
        : {}),
      states: listParam(query, 'state', TASK_STATES) as TaskState[],
      // Action names are lowercase; listParam compares upper case.
      actions: listParam(
        query,
        'action',
        TASK_ACTIONS.map((a) => a.toUpperCase()),
      ).map((a) => a.toLowerCase() as TaskAction),
      limit: integerParam(query, 'limit', { min: 1, max: 500, fallback: 50 }),
      cursor: cursor?.toLowerCase() ?? null,
    }).catch(taskError);
    return { body: page };
  });

  route(ctx, 'get', '/api/tasks/:id', 'any', async (req) => {
    const task = await readTask(pool, req);
    return { body: { task } };
  });

  route(ctx, 'get', '/api/tasks/:id/output', 'any', async (req) => {
    const task = await readTask(pool, req);
    if (req.query.get('download') === '1') return downloadFile(pool, task);
    const limit = integerParam(req.query, 'limit', {
      min: 8,
      max: MAX_OUTPUT_PAGE,
      fallback: MAX_OUTPUT_PAGE,
    });
    const after = integerParam(req.query, 'after', { min: 0, max: 2 ** 31 - 1, fallback: 0 });
    return {
      body: { ...(await outputPage(pool, task.task_id, after, limit)), truncated: task.truncated },
    };
  });

  route(ctx, 'post', '/api/tasks/:id/cancel', 'any', async (req) => {
    const b = parseBody(cancelSchema, req.body, 'cancel');
    requireTaskRole(req.operator, 'responder', 'cancelling a task');
    // As on gRPC (CancelTask): a shell task is the admins' to cancel, like it is theirs to run.
    const { task_id: id, action } = await readTask(pool, req);
    if (action === 'shell_execute')
      requireTaskRole(req.operator, 'admin', 'cancelling a shell task');
    const task = await requestTaskCancel(pool, id, auditActor(req.operator), b.reason ?? '').catch(
      taskError,
    );
    announce(task);
    return { body: { task } };
  });

  route(ctx, 'post', '/api/tasks/:id/approve', 'any', async (req) => {
    const id = taskIdParam(req);
    parseBody(approveSchema, req.body, 'approval');
    requireTaskRole(req.operator, 'admin', 'approving a task');
    const task = await approveTask(pool, id, auditActor(req.operator)).catch(taskError);
    announce(task);
    return { body: { task } };
  });
}

async function readTask(pool: Pool, req: ApiRequest): Promise<TaskJson> {
  const id = taskIdParam(req);
  const task = await getTask(pool, id).catch(taskError);
  if (!task) throw new ApiError(404, 'task_not_found', `no task ${id}`);
  return task;
}

/**
 * A file_fetch task's content as an attachment (file-download.ts: never rendered), streamed a
 * page of chunks at a time. The first page is read before answering, so a database that is
 * down is still a 503, not a broken download.
 */
async function downloadFile(pool: Pool, task: TaskJson) {
  if (task.action !== 'file_fetch')
    throw new ApiError(
      409,
      'not_a_file',
      `task ${task.task_id} is ${task.action}: only file_fetch has a file to download`,
    );
  const first = await readTaskFilePage(pool, task.task_id, 0);
  const path = typeof task.parameters.path === 'string' ? task.parameters.path : '';
  return {
    headers: downloadHeaders(safeFilename(path, task.task_id)),
    stream: fileChunks(pool, task.task_id, first),
  };
}

async function* fileChunks(
  pool: Pool,
  taskId: string,
  first: Array<{ offset: number; data: Buffer }>,
): AsyncGenerator<Uint8Array> {
  let page = first;
  while (page.length > 0) {
    for (const chunk of page) yield chunk.data;
    const last = page[page.length - 1]!;
    page = await readTaskFilePage(pool, taskId, last.offset + last.data.length);
  }
}

/**
 * Chunks after sequence `after`. One response of the agent can store a chunk per stream under
 * one sequence number, so a full page gives back its last sequence's chunks (the next page
 * starts with all of them): `next_after` never skips a chunk.
 */
async function outputPage(pool: Pool, taskId: string, after: number, limit: number) {
  const output = await listTaskOutput(pool, taskId, after, limit + 1);
  if (output.length <= limit) return { output, next_after: null };
  const last = output[limit - 1]!.sequence;
  const whole = output.slice(0, limit).filter((c) => c.sequence !== last);
  // limit ≥ 8 and a sequence has at most 4 streams, so `whole` is never empty; kept safe anyway.
  return whole.length > 0
    ? { output: whole, next_after: whole[whole.length - 1]!.sequence }
    : { output: output.slice(0, limit), next_after: last };
}
