import type { TaskJson } from '@tripwire/wire';

type TimeColumn =
  | 'expires_at'
  | 'created_at'
  | 'approved_at'
  | 'dispatched_at'
  | 'started_at'
  | 'finished_at';

/** A tasks row as `pg` returns it: the JSON's fields with times as Dates, and the server's own. */
export interface TaskRow extends Omit<TaskJson, TimeColumn> {
  expires_at: Date;
  created_at: Date;
  approved_at: Date | null;
  dispatched_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  cancel_requested_at: Date | null;
  dispatched_stream: string | null;
  last_sequence: number;
  updated_at: Date;
}

/** Tasks with their host's name ('' if the host row is gone). */
export const SELECT_TASKS =
  "SELECT tasks.*, coalesce(hosts.hostname, '') AS hostname FROM tasks LEFT JOIN hosts ON hosts.host_id = tasks.host_id";
export const RETURNING_TASK =
  "RETURNING tasks.*, coalesce((SELECT hostname FROM hosts WHERE hosts.host_id = tasks.host_id), '') AS hostname";

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The task as every interface shows it. */
export function toTaskJson(r: TaskRow): TaskJson {
  return {
    task_id: r.task_id,
    host_id: r.host_id,
    hostname: r.hostname,
    action: r.action,
    parameters: r.parameters,
    state: r.state,
    created_by: r.created_by,
    approved_by: r.approved_by,
    cancel_requested_by: r.cancel_requested_by,
    cancel_reason: r.cancel_reason,
    alert_id: r.alert_id,
    incident_id: r.incident_id,
    timeout_s: r.timeout_s,
    max_output_bytes: r.max_output_bytes,
    expires_at: r.expires_at.toISOString(),
    created_at: r.created_at.toISOString(),
    approved_at: iso(r.approved_at),
    dispatched_at: iso(r.dispatched_at),
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    dispatch_count: r.dispatch_count,
    exit_code: r.exit_code,
    error: r.error,
    stdout_bytes: r.stdout_bytes,
    stderr_bytes: r.stderr_bytes,
    file_bytes: r.file_bytes,
    listing_bytes: r.listing_bytes,
    truncated: r.truncated,
    result: r.result,
    version: r.version,
  };
}
