// Response actions (docs/response-actions.md): the vocabulary every interface shares, the task
// as REST, WebSocket frames, the bus and the dashboard show it.

/** The actions, by the names the agent's policy report and the docs use. */
export const TASK_ACTIONS = [
  'process_list',
  'network_connections',
  'file_hash',
  'file_fetch',
  'kill_process',
  'quarantine_file',
  'restore_file',
  'shell_execute',
] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

export const isTaskAction = (value: unknown): value is TaskAction =>
  (TASK_ACTIONS as readonly unknown[]).includes(value);

/**
 * A task's states (PostgreSQL's task_state enum). The transitions allowed between them are
 * storage's rule (TASK_TRANSITIONS in @tripwire/storage).
 */
export const TASK_STATES = [
  'AWAITING_APPROVAL',
  'QUEUED',
  'DISPATCHED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'EXPIRED',
  'REFUSED',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** States a task never leaves: its outcome. */
export const FINAL_TASK_STATES = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'EXPIRED',
  'REFUSED',
] as const satisfies TaskState[];
export type FinalTaskState = (typeof FINAL_TASK_STATES)[number];

export const isFinalTaskState = (state: TaskState): state is FinalTaskState =>
  (FINAL_TASK_STATES as readonly TaskState[]).includes(state);

/** Where an output chunk came from: a shell's streams, file_fetch content, or a listing page (JSON). */
export const TASK_OUTPUT_STREAMS = ['stdout', 'stderr', 'file', 'listing'] as const;
export type TaskOutputStream = (typeof TASK_OUTPUT_STREAMS)[number];

/** A task as every interface shows it; snake_case like alerts and incidents. */
export interface TaskJson {
  task_id: string;
  host_id: string;
  /** '' when the host row is gone. */
  hostname: string;
  action: TaskAction;
  /** The action's parameters, as validated at creation (validateTaskParameters). */
  parameters: Record<string, unknown>;
  state: TaskState;
  created_by: string;
  approved_by: string | null;
  cancel_requested_by: string | null;
  cancel_reason: string | null;
  alert_id: string | null;
  incident_id: string | null;
  timeout_s: number;
  /** Output bytes kept for this task (all streams together); past it output is cut and `truncated` set. */
  max_output_bytes: number;
  /** A task still QUEUED (or AWAITING_APPROVAL) at this time ends EXPIRED. */
  expires_at: string;
  created_at: string;
  approved_at: string | null;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** How many times it was sent to the agent (more than 1: redelivered after a reconnect). */
  dispatch_count: number;
  /** shell_execute's exit code (-1: ended by a signal); null otherwise or not yet. */
  exit_code: number | null;
  error: string | null;
  /** Output bytes stored, per stream. */
  stdout_bytes: number;
  stderr_bytes: number;
  file_bytes: number;
  listing_bytes: number;
  /** Output was cut: by the agent's cap or the server's (TASK_OUTPUT_MAX_BYTES). */
  truncated: boolean;
  /** The final response's summary (file hash, quarantine id, exit code and signal, …). */
  result: Record<string, unknown> | null;
  /** Bumped by every change (state, output): of two copies of a task, the higher is newer. */
  version: number;
}

/** One piece of a task's output, in `sequence` order per task. */
export interface TaskOutputJson {
  task_id: string;
  /** The agent's sequence number of the response that carried it. */
  sequence: number;
  stream: TaskOutputStream;
  /** Offset of this chunk in its stream's stored bytes. */
  offset: number;
  bytes: number;
  /** UTF-8 text for stdout, stderr and listing; null for file content (download it). */
  text: string | null;
}

/**
 * What happened: `created`; `updated` (approved, dispatched, running, cancel requested);
 * `output` (a chunk was stored; the task carries the new byte counts); `finished` (a final state).
 */
export type TaskEventKind = 'created' | 'updated' | 'output' | 'finished';

/** The `data` of the bus's `task` message and of a WebSocket `task` frame. */
export interface TaskEventData {
  event: TaskEventKind;
  task: TaskJson;
  /** With `output` only. */
  output?: TaskOutputJson;
}

/** What a host's agent reported it will run (AgentTaskPolicy), for greying out refused actions. */
export interface TaskPolicyJson {
  host_id: string;
  enabled_actions: TaskAction[];
  shell_restricted: boolean;
  shell_allow_patterns: string[];
  kill_switch: boolean;
  max_timeout_seconds: number;
  default_timeout_seconds: number;
  max_output_bytes: number;
  max_fetch_bytes: number;
  max_concurrent_tasks: number;
  reported_at: string;
  /** A task stream from this host is open now. */
  connected: boolean;
}
