// Response actions as the console sees them (docs/response-actions.md, REST /api/tasks and the
// `task` frames of /ws/alerts). Snake_case like alerts and incidents.

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

/** States a task never leaves. */
export const FINAL_TASK_STATES: readonly TaskState[] = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'EXPIRED',
  'REFUSED',
];
export const isFinalTaskState = (s: TaskState) => FINAL_TASK_STATES.includes(s);

export interface TaskJson {
  task_id: string;
  host_id: string;
  hostname: string;
  action: TaskAction;
  parameters: Record<string, unknown>;
  state: TaskState;
  /** Why, for FAILED, TIMED_OUT, REFUSED, EXPIRED. */
  error: string | null;
  /** The final response's summary (exit code, hash, size …), once final. */
  result: Record<string, unknown> | null;
  truncated: boolean;
  timeout_seconds: number;
  expires_at: string;
  alert_id: string | null;
  incident_id: string | null;
  created_by: string;
  created_at: string;
  approved_by: string | null;
  approved_at: string | null;
  cancelled_by: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** Grows with every change of the task: of two copies, the higher is newer. */
  revision: number;
}

/** One piece of a task's output, in `sequence` order (1, 2, 3 …). */
export interface TaskOutputChunk {
  sequence: number;
  /** stdout/stderr for shell_execute; data for listings and file content. */
  stream: 'stdout' | 'stderr' | 'data';
  /** Text output (shell), or a JSON listing page (process_list, network_connections). */
  text?: string;
  data?: unknown;
  /** file_fetch: how many bytes this chunk holds (the bytes are downloaded, never shown). */
  bytes?: number;
}

/** The `data` of a `task` frame: the task after a change, or a chunk of its output. */
export type TaskEventData =
  | { event: 'state'; task: TaskJson }
  | { event: 'output'; task_id: string; host_id: string; chunk: TaskOutputChunk };

/** What a host's agent reported it will run (AgentTaskPolicy), or null before it ever connected. */
export interface TaskPolicy {
  enabled_actions: string[];
  shell_restricted: boolean;
  shell_allow_patterns: string[];
  kill_switch: boolean;
  max_timeout_seconds: number;
  default_timeout_seconds: number;
  reported_at?: string;
}
