import { SEVERITIES, type Severity } from '@tripwire/wire';
import type { Alert, Host } from './api.js';

/** Most severe first: the order of the severity filters and choices, and of the URL's list. */
export const SEVERITIES_MOST_SEVERE_FIRST: readonly Severity[] = [...SEVERITIES].reverse();

const pad = (n: number) => String(n).padStart(2, '0');

/** Local time, to the second; the date too when it is not today. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function hostName(alert: Alert, hosts: Map<string, Host>): string {
  return alert.hostname ?? hosts.get(alert.host_id)?.hostname ?? alert.host_id.slice(0, 8);
}

/** The one line an investigator scans for: the path, command line, or address in the detail. */
export function summarize(detail: unknown): string {
  if (!detail || typeof detail !== 'object') return detail == null ? '' : String(detail);
  const d = detail as Record<string, unknown>;
  for (const key of [
    'path',
    'cmdline',
    'command',
    'exe',
    'local_address',
    'remote_address',
    'port',
    'message',
  ]) {
    const v = d[key];
    if (v !== undefined && v !== null && v !== '') return `${key}: ${String(v)}`;
  }
  return JSON.stringify(detail).slice(0, 160);
}

/** An operator's name from an audit actor ("operator:ada" → "ada"); system actors ("ingest") stay. */
export function actorName(actor: string): string {
  return actor.replace(/^operator:/, '');
}
