import type { BusPublisher } from '@tripwire/bus';
import {
  createTask,
  getTaskPolicies,
  type Pool,
  type TaskLimits,
  taskMessage,
} from '@tripwire/storage';
import { TASK_ACTIONS } from '@tripwire/wire';
import { z } from 'zod';
import { parseBody, UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';
import { requireTaskRole, taskError } from './task-api-errors.js';

const seconds = z
  .number({ message: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be at least 1')
  .optional();
const uuid = z.string({ message: 'must be a string' }).regex(UUID, 'must be a UUID').optional();

// The action's parameters are checked by @tripwire/wire's validateTaskParameters (in
// createTask), the same rules as gRPC's ResponseService; here only their outer shape.
const createSchema = z.strictObject({
  action: z.enum(TASK_ACTIONS, { message: `must be one of ${TASK_ACTIONS.join(', ')}` }),
  parameters: z.record(z.string(), z.unknown(), { message: 'must be an object' }).default({}),
  timeout_seconds: seconds,
  expires_in_seconds: seconds,
  alert_id: uuid,
  incident_id: uuid,
});

function hostIdParam(req: ApiRequest): string {
  const id = (req.params[0] ?? '').toLowerCase();
  if (!UUID.test(id)) throw new ApiError(404, 'host_not_found', `no host ${id.slice(0, 40)}`);
  return id;
}

export interface HostTasksApiDeps {
  pool: Pool;
  /** The events stream: browsers see the new task (ingest hears of it by NOTIFY at commit). */
  eventsPublisher: BusPublisher;
  limits: TaskLimits;
  /** TASKS_SHELL_APPROVAL: a shell task waits for a second admin. */
  shellApproval: boolean;
}

/** /api/hosts/{id}/tasks and /api/hosts/{id}/task-policy: docs/response-actions.md. */
export function registerHostTasksApi(ctx: RouteContext, deps: HostTasksApiDeps) {
  const { pool, eventsPublisher, limits, shellApproval } = deps;

  route(ctx, 'post', '/api/hosts/:id/tasks', 'any', async (req) => {
    const hostId = hostIdParam(req);
    const b = parseBody(createSchema, req.body, 'task');
    const shell = b.action === 'shell_execute';
    requireTaskRole(req.operator, shell ? 'admin' : 'responder', shell ? 'a shell task' : 'a task');
    const task = await createTask(
      pool,
      {
        hostId,
        action: b.action,
        parameters: b.parameters,
        ...(b.timeout_seconds !== undefined ? { timeoutS: b.timeout_seconds } : {}),
        ...(b.expires_in_seconds !== undefined ? { expiresInS: b.expires_in_seconds } : {}),
        alertId: b.alert_id?.toLowerCase() ?? null,
        incidentId: b.incident_id?.toLowerCase() ?? null,
        requireApproval: shell && shellApproval,
      },
      auditActor(req.operator),
      limits,
    ).catch(taskError);
    eventsPublisher.publish([taskMessage('created', task)]);
    return { status: 201, body: { task } };
  });

  route(ctx, 'get', '/api/hosts/:id/task-policy', 'any', async (req) => {
    const hostId = hostIdParam(req);
    const [policy] = await getTaskPolicies(pool, [hostId]);
    return { body: { policy: policy ?? null } };
  });
}
