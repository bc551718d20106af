// The view and its filter live in the URL, so a view can be shared and survives a reload:
// /?severity=CRITICAL,WARN&type=FILE&host=<uuid>&q=<search>, /incidents?state=…&severity=…&host=…,
// /tasks?state=…&action=…&host=…&task=<id>, /hosts, /rules, /audit, /enrollment.
import {
  COLLECTING_STATES,
  INCIDENT_STATES,
  type IncidentState,
  SEARCH_LENGTH,
  type Severity,
  TRIPWIRE_TYPES,
  type TripwireType,
} from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';
import type { AlertQuery, IncidentQuery } from './api.js';
import { SEVERITIES_MOST_SEVERE_FIRST } from './format.js';
import type { TaskQuery } from './task-store.js';
import { TASK_ACTIONS, TASK_STATES, type TaskAction, type TaskState } from './task-types.js';

export type Page =
  | 'alerts'
  | 'incidents'
  | 'tasks'
  | 'hosts'
  | 'rules'
  | 'suppressions'
  | 'audit'
  | 'enrollment'
  | 'notifications';
const PAGES: Record<string, Page> = {
  '/': 'alerts',
  '/alerts': 'alerts',
  '/incidents': 'incidents',
  '/tasks': 'tasks',
  '/hosts': 'hosts',
  '/rules': 'rules',
  '/suppressions': 'suppressions',
  '/audit': 'audit',
  '/enrollment': 'enrollment',
  '/notifications': 'notifications',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function list<T extends string>(raw: string | null, allowed: readonly T[]): T[] {
  const wanted = (raw ?? '').split(',').map((v) => v.trim().toUpperCase());
  return allowed.filter((v) => wanted.includes(v));
}

export function filterFromSearch(search: string): AlertQuery {
  const q = new URLSearchParams(search);
  const host = q.get('host');
  // A search the server would refuse (too short, too long) is no search.
  const text = (q.get('q') ?? '').trim();
  const valid = text.length >= SEARCH_LENGTH.min && text.length <= SEARCH_LENGTH.max;
  return {
    severity: list<Severity>(q.get('severity'), SEVERITIES_MOST_SEVERE_FIRST),
    type: list<TripwireType>(q.get('type'), TRIPWIRE_TYPES),
    host: host && UUID.test(host) ? host.toLowerCase() : null,
    ...(valid ? { q: text } : {}),
  };
}

export function searchFromFilter(f: AlertQuery): string {
  const q = new URLSearchParams();
  if (f.severity.length) q.set('severity', f.severity.join(','));
  if (f.type.length) q.set('type', f.type.join(','));
  if (f.q) q.set('q', f.q);
  return withHost(q, f.host);
}

/** Adds the host filter; the query string with commas left readable, or '' when empty. */
function withHost(q: URLSearchParams, host: string | null): string {
  if (host) q.set('host', host);
  const s = q.toString().replaceAll('%2C', ',');
  return s ? `?${s}` : '';
}

/**
 * The incidents page's filter: no `state` means the open ones (OPEN and ACKNOWLEDGED),
 * `state=all` every state. Severity is the incident's highest.
 */
export function incidentFilterFromSearch(search: string): IncidentQuery {
  const q = new URLSearchParams(search);
  const state = q.get('state');
  const { severity, host } = filterFromSearch(search);
  return {
    state:
      state === null
        ? [...COLLECTING_STATES]
        : state.toLowerCase() === 'all'
          ? []
          : list<IncidentState>(state, INCIDENT_STATES),
    severity,
    host,
  };
}

export function searchFromIncidentFilter(f: IncidentQuery): string {
  const q = new URLSearchParams();
  const open =
    f.state.length === COLLECTING_STATES.length &&
    COLLECTING_STATES.every((s) => f.state.includes(s));
  const states = INCIDENT_STATES.filter((s) => f.state.includes(s));
  if (!open) q.set('state', states.length ? states.join(',') : 'all');
  if (f.severity.length) q.set('severity', f.severity.join(','));
  return withHost(q, f.host);
}

/** The Tasks page's filter: state, action, host (every task when empty). */
export function taskFilterFromSearch(search: string): TaskQuery {
  const q = new URLSearchParams(search);
  const actions = (q.get('action') ?? '').split(',').map((v) => v.trim().toLowerCase());
  return {
    state: list<TaskState>(q.get('state'), TASK_STATES),
    action: TASK_ACTIONS.filter((a): a is TaskAction => actions.includes(a)),
    host: filterFromSearch(search).host,
  };
}

export function searchFromTaskFilter(f: TaskQuery, taskId: string | null = null): string {
  const q = new URLSearchParams();
  if (f.state.length) q.set('state', f.state.join(','));
  if (f.action.length) q.set('action', f.action.join(','));
  if (taskId) q.set('task', taskId);
  return withHost(q, f.host);
}

/** "Mute alerts like this": /suppressions?from_alert=<alert id> opens a form prefilled from it. */
export function fromAlertInSearch(search: string): string | null {
  const id = new URLSearchParams(search).get('from_alert');
  return id && UUID.test(id) ? id.toLowerCase() : null;
}

/** The task whose panel is open (?task=<id>), so a link to it can be shared. */
export function taskIdFromSearch(search: string): string | null {
  const id = new URLSearchParams(search).get('task');
  return id && /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? id : null;
}

export const sameFilter = (a: AlertQuery, b: AlertQuery) =>
  searchFromFilter(a) === searchFromFilter(b);

export function navigate(path: string) {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The current page and alert filter, following back/forward and navigate(). */
export function useLocation() {
  const read = () => ({
    page: PAGES[location.pathname] ?? 'alerts',
    filter: filterFromSearch(location.search),
    incidentFilter: incidentFilterFromSearch(location.search),
    taskFilter: taskFilterFromSearch(location.search),
    taskId: taskIdFromSearch(location.search),
    search: location.search,
  });
  const [state, setState] = useState(read);
  useEffect(() => {
    const onPop = () => setState(read());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return state;
}
