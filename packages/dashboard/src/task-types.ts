// Response actions as the console sees them: the shapes are @tripwire/wire's (task.ts), shared
// with REST, the bus and the `task` frames of /ws/alerts. PROVISIONAL COPY until the server
// core's wire types are merged; then this file re-exports them.

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

export const FINAL_TASK_STATES = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'EXPIRED',
  'REFUSED',
] as const satisfies TaskState[];
export const isFinalTaskState = (s: TaskState) =>
  (FINAL_TASK_STATES as readonly TaskState[]).includes(s);

export type TaskOutputStream = 'stdout' | 'stderr' | 'file' | 'listing';

export interface TaskJson {
  task_id: string;
  host_id: string;
  hostname: string;
  action: TaskAction;
  parameters: Record<string, unknown>;
  state: TaskState;
  created_by: string;
  approved_by: string | null;
  cancel_requested_by: string | null;
  cancel_reason: string | null;
  alert_id: string | null;
  incident_id: string | null;
  timeout_s: number;
  max_output_bytes: number;
  expires_at: string;
  created_at: string;
  approved_at: string | null;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  dispatch_count: number;
  exit_code: number | null;
  error: string | null;
  stdout_bytes: number;
  stderr_bytes: number;
  file_bytes: number;
  listing_bytes: number;
  truncated: boolean;
  result: Record<string, unknown> | null;
  version: number;
}

export interface TaskOutputJson {
  task_id: string;
  sequence: number;
  stream: TaskOutputStream;
  offset: number;
  bytes: number;
  text: string | null;
}

export type TaskEventKind = 'created' | 'updated' | 'output' | 'finished';

export interface TaskEventData {
  event: TaskEventKind;
  task: TaskJson;
  output?: TaskOutputJson;
}

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
  connected: boolean;
}
