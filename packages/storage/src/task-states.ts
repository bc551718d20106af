import type { TaskState } from '@tripwire/wire';

/**
 * The task lifecycle. A task waits (AWAITING_APPROVAL for a shell task that needs a second
 * admin, then QUEUED), is sent to its agent (DISPATCHED), starts there (RUNNING) and ends in
 * one final state. The final states never change: a late or repeated outcome from the agent
 * (after a server-side timeout, after "agent disconnected", a resend) is ignored.
 * DISPATCHED may end without RUNNING: the agent refuses by policy before starting, and a task
 * can finish between two of its responses.
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  AWAITING_APPROVAL: ['QUEUED', 'CANCELLED', 'EXPIRED'],
  QUEUED: ['DISPATCHED', 'CANCELLED', 'EXPIRED', 'REFUSED'],
  DISPATCHED: ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'REFUSED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'REFUSED'],
  SUCCEEDED: [],
  FAILED: [],
  TIMED_OUT: [],
  CANCELLED: [],
  EXPIRED: [],
  REFUSED: [],
};

export class InvalidTaskTransitionError extends Error {
  override name = 'InvalidTaskTransitionError';
  constructor(
    readonly from: TaskState,
    readonly to: TaskState,
    readonly allowed: readonly TaskState[],
  ) {
    super(
      `a task cannot go from ${from} to ${to}: ${
        allowed.length ? `from ${from} it can go to ${allowed.join(', ')}` : `${from} is final`
      }`,
    );
  }
}

export function canTransitionTask(from: TaskState, to: TaskState): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

/** Throws InvalidTaskTransitionError unless from → to is allowed. */
export function assertTaskTransition(from: TaskState, to: TaskState): void {
  if (!canTransitionTask(from, to))
    throw new InvalidTaskTransitionError(from, to, TASK_TRANSITIONS[from]);
}
