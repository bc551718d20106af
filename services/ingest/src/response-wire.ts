import { type Task, type TaskOutput, TaskState } from '@tripwire/proto';
import {
  type TaskState as StoredState,
  TASK_STATES,
  type TaskJson,
  type TaskOutputJson,
} from '@tripwire/wire';
import { BadField } from './incident-wire.js';

// ResponseService's messages from and to the stored task (@tripwire/wire's TaskJson).

const date = (iso: string | null) => (iso ? new Date(iso) : undefined);

const STATE_NUMBER: Record<StoredState, TaskState> = {
  AWAITING_APPROVAL: TaskState.TASK_STATE_AWAITING_APPROVAL,
  QUEUED: TaskState.TASK_STATE_QUEUED,
  DISPATCHED: TaskState.TASK_STATE_DISPATCHED,
  RUNNING: TaskState.TASK_STATE_RUNNING,
  SUCCEEDED: TaskState.TASK_STATE_SUCCEEDED,
  FAILED: TaskState.TASK_STATE_FAILED,
  TIMED_OUT: TaskState.TASK_STATE_TIMED_OUT,
  CANCELLED: TaskState.TASK_STATE_CANCELLED,
  EXPIRED: TaskState.TASK_STATE_EXPIRED,
  REFUSED: TaskState.TASK_STATE_REFUSED,
};

/** A requested state filter's name; `states[i]` is named when it is not a state. */
export function taskStateName(index: number, value: TaskState): StoredState {
  const name = TASK_STATES.find((s) => STATE_NUMBER[s] === value);
  if (!name)
    throw new BadField(
      `states[${index}] must be a TaskState other than UNSPECIFIED (got ${value})`,
    );
  return name;
}

export function toWireTask(t: TaskJson): Task {
  return {
    taskId: t.task_id,
    hostId: t.host_id,
    hostname: t.hostname,
    action: t.action,
    parametersJson: JSON.stringify(t.parameters),
    state: STATE_NUMBER[t.state],
    createdBy: t.created_by,
    approvedBy: t.approved_by ?? '',
    cancelRequestedBy: t.cancel_requested_by ?? '',
    cancelReason: t.cancel_reason ?? '',
    alertId: t.alert_id ?? '',
    incidentId: t.incident_id ?? '',
    timeoutSeconds: t.timeout_s,
    expiresAt: date(t.expires_at),
    createdAt: date(t.created_at),
    approvedAt: date(t.approved_at),
    dispatchedAt: date(t.dispatched_at),
    startedAt: date(t.started_at),
    finishedAt: date(t.finished_at),
    dispatchCount: t.dispatch_count,
    exitCode: t.exit_code ?? undefined,
    error: t.error ?? '',
    stdoutBytes: t.stdout_bytes,
    stderrBytes: t.stderr_bytes,
    fileBytes: t.file_bytes,
    listingBytes: t.listing_bytes,
    truncated: t.truncated,
    resultJson: t.result ? JSON.stringify(t.result) : '',
    version: t.version,
    maxOutputBytes: t.max_output_bytes,
  };
}

export function toWireOutput(o: TaskOutputJson): TaskOutput {
  return {
    taskId: o.task_id,
    sequence: o.sequence,
    stream: o.stream,
    offset: o.offset,
    bytes: o.bytes,
    text: o.text ?? '',
  };
}
