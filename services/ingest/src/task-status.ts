import { status } from '@grpc/grpc-js';
import {
  InvalidTaskTransitionError,
  TaskNotFoundError,
  TaskRateLimitError,
  TaskSelfApprovalError,
} from '@tripwire/storage';
import { TaskParameterError } from '@tripwire/wire';
import { CallError } from './agent-auth.js';
import { toCallError } from './incident-status.js';

/** A task store or validation failure as the status a client can act on. */
export function toTaskCallError(err: unknown): CallError {
  if (err instanceof TaskParameterError) return new CallError(status.INVALID_ARGUMENT, err.message);
  if (err instanceof TaskNotFoundError) return new CallError(status.NOT_FOUND, err.message);
  if (err instanceof InvalidTaskTransitionError)
    return new CallError(status.FAILED_PRECONDITION, err.message);
  if (err instanceof TaskSelfApprovalError)
    return new CallError(status.PERMISSION_DENIED, err.message);
  if (err instanceof TaskRateLimitError)
    return new CallError(status.RESOURCE_EXHAUSTED, err.message, `task_rate_${err.scope}`);
  return toCallError(err);
}
