// The obvious response to an alert, prefilled (docs/response-actions.md): a PROCESS alert's
// process killed (pid plus start_ticks, so a reused pid is refused by the agent), a FILE
// alert's file hashed (quarantine is one click away with the same path).
import type { Alert } from './api.js';
import type { TaskAction } from './task-types.js';

export interface TaskDraft {
  action: TaskAction;
  parameters: Record<string, string>;
  alert_id?: string;
  /** Set when the alert was opened from an incident: the task is linked to both. */
  incident_id?: string;
}

export function draftFromAlert(alert: Alert): TaskDraft {
  const d = (alert.event_detail ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'number' || typeof v === 'string' ? String(v) : '');
  if (alert.tripwire_type === 'PROCESS' && d.pid !== undefined)
    return {
      action: 'kill_process',
      parameters: { pid: str(d.pid), start_ticks: str(d.start_ticks), signal: 'SIGKILL' },
      alert_id: alert.alert_id,
    };
  if (alert.tripwire_type === 'FILE' && typeof d.path === 'string')
    return { action: 'file_hash', parameters: { path: d.path }, alert_id: alert.alert_id };
  return { action: 'process_list', parameters: {}, alert_id: alert.alert_id };
}

/** The parameters each action takes, as the form shows them (all strings until sent). */
export const ACTION_FIELDS: Record<TaskAction, string[]> = {
  process_list: [],
  network_connections: [],
  file_hash: ['path'],
  file_fetch: ['path', 'max_bytes'],
  kill_process: ['pid', 'start_ticks', 'signal'],
  quarantine_file: ['path'],
  restore_file: ['quarantine_id'],
  shell_execute: ['cmd', 'working_dir'],
};

const NUMBERS = new Set(['pid', 'start_ticks', 'max_bytes']);

/** The form's strings as the API's typed parameters; empty optional ones left out. */
export function parametersFor(action: TaskAction, form: Record<string, string>) {
  const out: Record<string, unknown> = {};
  for (const name of ACTION_FIELDS[action]) {
    const raw = (form[name] ?? '').trim();
    if (raw === '') continue;
    // A number field sent as typed: the API names it when it is not a number.
    out[name] = NUMBERS.has(name) && /^\d{1,16}$/.test(raw) ? Number(raw) : raw;
  }
  // The command goes as written (leading spaces may matter to an allow-list pattern).
  if (action === 'shell_execute' && form.cmd !== undefined) out.cmd = form.cmd;
  return out;
}
