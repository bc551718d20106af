import {
  InvalidTaskTransitionError,
  TaskNotFoundError,
  TaskRateLimitError,
  TaskSelfApprovalError,
  TaskValidationError,
} from '@tripwire/storage';
import { TaskParameterError } from '@tripwire/wire';
import { UUID } from './api-params.js';
import { ApiError, type ApiRequest } from './http-route.js';
import { AuthError, type Operator, roleAtLeast } from './operator-auth.js';

/** A task id from the path; anything but a UUID names no task. */
export function taskIdParam(req: ApiRequest): string {
  const id = (req.params[0] ?? '').toLowerCase();
  if (!UUID.test(id)) throw new ApiError(404, 'task_not_found', `no task ${id.slice(0, 40)}`);
  return id;
}

/**
 * Who may act on tasks (docs/response-actions.md): viewers read, responders run every action
 * but shell and cancel, admins everything. Checked here, before storage, so the refusal says
 * which role is needed.
 */
export function requireTaskRole(operator: Operator, needed: 'responder' | 'admin', what: string) {
  if (roleAtLeast(operator.role, needed)) return;
  throw new AuthError(
    `${what} needs the ${needed === 'admin' ? 'admin' : 'responder or admin'} role`,
    403,
    'forbidden_role',
  );
}

/** Storage's typed refusals as the contract's HTTP errors (services/fanout/openapi.yaml). */
export function taskError(err: unknown): never {
  if (err instanceof TaskNotFoundError) throw new ApiError(404, 'task_not_found', err.message);
  if (err instanceof InvalidTaskTransitionError)
    throw new ApiError(409, 'invalid_transition', err.message, undefined, {
      from: err.from,
      to: err.to,
      allowed: err.allowed,
    });
  if (err instanceof TaskSelfApprovalError) throw new ApiError(403, 'self_approval', err.message);
  if (err instanceof TaskRateLimitError)
    throw new ApiError(429, 'too_many_tasks', err.message, undefined, {
      scope: err.scope,
      // Counted over the last minute: one will have aged out by then.
      retry_after_s: err.scope === 'host_queue' ? 30 : 60,
    });
  if (
    err instanceof TaskValidationError &&
    err.field === 'host_id' &&
    /^host_id: no host/.test(err.message)
  )
    throw new ApiError(404, 'host_not_found', err.message.replace(/^host_id: /, ''));
  if (err instanceof TaskParameterError)
    throw new ApiError(400, 'validation_failed', `invalid task: ${err.message}`, {
      [err.field]: err.message.slice(err.field.length + 2),
    });
  throw err;
}
