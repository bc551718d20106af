import type { AgentTaskPolicy, TaskRequest, TaskResponse, TaskStatus } from '@tripwire/proto';

/** The result payload of a task response (one case of TaskResponse.response). */
export type TaskPayload = TaskResponse['response'];

/** Why a task's signal was aborted: the dispatcher turns it into the task's outcome. */
export type TaskAbortReason = 'cancelled' | 'timed_out' | 'agent_stopping';

export interface TaskContext {
  /** Aborted on TaskCancel, on timeout or when the agent stops; `signal.reason` is a TaskAbortReason. */
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** Output bytes this task may send (stdout + stderr, or a listing); past it, drop and mark truncated. */
  readonly maxOutputBytes: number;
  /** Sends a non-final response carrying part of the result (output chunks, list pages). */
  emit(payload: TaskPayload): void;
}

export interface TaskOutcome {
  status: TaskStatus;
  error?: string;
  truncated?: boolean;
  /** The final response's payload (exit code, hash, …); bulk output goes through emit(). */
  response?: TaskPayload;
}

/**
 * What an agent plugs into the SDK to run response actions. The SDK owns the wire (dedupe,
 * journal, cancel, timeout, sequencing); the runner owns the actions and the local policy.
 */
export interface TaskRunner {
  /** Reported at every connect and whenever `policyChanged` fires. */
  policy(): AgentTaskPolicy;
  /**
   * Why the policy refuses this request before anything starts (no RUNNING response is sent
   * then), or null. run() may still refuse, e.g. on a bad parameter.
   */
  refusal?(request: TaskRequest): string | null;
  /**
   * Runs one task (or refuses it: status REFUSED with the reason). Must end soon after
   * `ctx.signal` aborts, with whatever children it started gone.
   */
  run(request: TaskRequest, ctx: TaskContext): Promise<TaskOutcome>;
  /** Subscribe to policy changes (e.g. the kill switch file); returns an unsubscribe. */
  onPolicyChange?(listener: () => void): () => void;
}
