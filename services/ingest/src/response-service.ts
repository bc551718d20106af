import { type Metadata, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import {
  AuthError,
  auditActor,
  type Operator,
  type OperatorAuth,
  roleAtLeast,
} from '@tripwire/operator-auth';
import type { ResponseServiceServer } from '@tripwire/proto';
import {
  approveTask,
  createTask,
  getTask,
  listTasks,
  type Pool,
  requestTaskCancel,
  type TaskLimits,
  TaskNotFoundError,
} from '@tripwire/storage';
import type { TaskJson } from '@tripwire/wire';
import { bearerToken, CallError } from './agent-auth.js';
import type { HandlerGuard } from './handler-guard.js';
import { BadField } from './incident-wire.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';
import { operatorCalls } from './operator-calls.js';
import { taskStateName, toWireTask } from './response-wire.js';
import type { TaskManager } from './task-manager.js';
import { toTaskCallError } from './task-status.js';
import { type WatchCall, watchTask } from './task-watch.js';
import { taskInputOf } from './task-wire.js';
import type { WatchSlots } from './watch-slots.js';

export interface ResponseServiceDeps {
  pool: Pool;
  operatorAuth: OperatorAuth | undefined;
  manager: TaskManager;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  log: Logger;
  limits: TaskLimits;
  /** TASKS_SHELL_APPROVAL: shell tasks wait for a second admin. */
  shellApproval: boolean;
  /** How often WatchTask rereads a task changed elsewhere. */
  watchPollMs: number;
  /** Open WatchTask calls per operator and in all (watch-slots.ts). */
  watchSlots: WatchSlots;
  isDraining: () => boolean;
}

async function authenticate(
  operatorAuth: OperatorAuth | undefined,
  metadata: Metadata,
): Promise<Operator> {
  if (!operatorAuth)
    throw new CallError(
      status.UNAUTHENTICATED,
      'ResponseService needs operator tokens: set OPERATOR_JWT_SECRET on the ingest service',
    );
  try {
    return await operatorAuth.verify(bearerToken(metadata));
  } catch (err) {
    if (err instanceof AuthError) throw new CallError(status.UNAUTHENTICATED, err.message);
    throw err;
  }
}

/** Creating or cancelling a task: responder for the non-shell actions, admin for shell_execute. */
function mayRun(operator: Operator, action: string, verb: string): void {
  const needed = action === 'shell_execute' ? 'admin' : 'responder';
  if (!roleAtLeast(operator.role, needed))
    throw new CallError(
      status.PERMISSION_DENIED,
      `${verb} a ${action} task needs the ${needed} role; ${operator.name} is a ${operator.role}`,
    );
}

/** A WatchTask slot for `operator`; a refusal is counted as a limit hit. */
function holdWatchSlot(deps: ResponseServiceDeps, operator: string): () => void {
  try {
    return deps.watchSlots.acquire(operator);
  } catch (err) {
    if (err instanceof CallError) deps.metrics.limitsHit.inc({ limit: err.reason });
    throw err;
  }
}

const optionalId = (value: string) => (value === '' ? undefined : value);

/** tripwire.v1.ResponseService: operators and automation run, watch, cancel and approve tasks. */
export function createResponseService(
  deps: ResponseServiceDeps,
): ResponseServiceServer & UntypedServiceImplementation {
  const { pool, metrics, log } = deps;
  const count = (method: string, code: status) =>
    metrics.taskRequests.inc({ method, code: status[code] });
  const { refusal, unary } = operatorCalls({
    authorize: (_method, metadata) => authenticate(deps.operatorAuth, metadata),
    toCallError: toTaskCallError,
    count,
    guard: deps.guard,
    log,
    service: 'response',
  });
  const answer = (task: TaskJson) => ({ task: toWireTask(task) });
  const existing = async (taskId: string) => {
    const task = await getTask(pool, taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  };

  return {
    createTask: unary('CreateTask', async (req, operator) => {
      const { action, parameters } = taskInputOf(req);
      mayRun(operator, action || 'unknown', 'creating');
      const task = await createTask(
        pool,
        {
          hostId: req.hostId,
          action,
          parameters,
          timeoutS: req.timeoutSeconds,
          expiresInS: req.expiresInSeconds,
          alertId: optionalId(req.alertId),
          incidentId: optionalId(req.incidentId),
          requireApproval: deps.shellApproval && action === 'shell_execute',
        },
        auditActor(operator),
        deps.limits,
      );
      metrics.tasksCreated.inc({ action: task.action });
      deps.manager.publish('created', task);
      return answer(task);
    }),
    getTask: unary('GetTask', async (req) => answer(await existing(req.taskId))),
    listTasks: unary('ListTasks', async (req) => {
      const page = await listTasks(pool, {
        hostId: optionalId(req.hostId),
        states: req.states.map((s, i) => taskStateName(i, s)),
        actions: req.actions as TaskJson['action'][],
        alertId: optionalId(req.alertId),
        incidentId: optionalId(req.incidentId),
        limit: req.pageSize || 50,
        cursor: optionalId(req.pageToken) ?? null,
      });
      return { tasks: page.tasks.map(toWireTask), nextPageToken: page.next_cursor ?? '' };
    }),
    cancelTask: unary('CancelTask', async (req, operator) => {
      mayRun(operator, (await existing(req.taskId)).action, 'cancelling');
      const task = await requestTaskCancel(pool, req.taskId, auditActor(operator), req.reason);
      deps.manager.publish(task.state === 'CANCELLED' ? 'finished' : 'updated', task);
      return answer(task);
    }),
    approveTask: unary('ApproveTask', async (req, operator) => {
      if (operator.role !== 'admin')
        throw new CallError(
          status.PERMISSION_DENIED,
          `approving a task needs the admin role; ${operator.name} is a ${operator.role}`,
        );
      const task = await approveTask(pool, req.taskId, auditActor(operator));
      deps.manager.publish('updated', task);
      return answer(task);
    }),
    watchTask(call: WatchCall) {
      const method = 'WatchTask';
      (async () => {
        if (deps.isDraining())
          throw new CallError(
            status.UNAVAILABLE,
            'this ingest instance is shutting down; connect to another',
          );
        const operator = await authenticate(deps.operatorAuth, call.metadata);
        if (call.request instanceof MalformedMessage) throw new BadField(call.request.describe());
        const release = holdWatchSlot(deps, operator.name);
        try {
          await watchTask(call, pool, deps.manager, deps.watchPollMs);
        } finally {
          release();
        }
        count(method, status.OK);
      })().catch((err) => {
        if (call.cancelled || call.destroyed) return count(method, status.CANCELLED);
        call.emit('error', refusal(method, err));
      });
    },
  };
}
