// The fan-out service's REST API (services/fanout/openapi.yaml). The session is an HttpOnly
// cookie, so requests carry no token: the page never holds one after sign-in.
import type {
  AlertEventData,
  AlertJson,
  CollectingState,
  FinalState,
  HostStatus,
  IncidentJson,
  IncidentState,
  ResolutionMethod,
  Severity,
  SuppressionJson,
  TripwireType,
} from '@tripwire/wire';
import type { OperatorRole } from './task-availability.js';
import type { TaskQuery } from './task-store.js';
import type { TaskAction, TaskJson, TaskOutputJson, TaskPolicyJson } from './task-types.js';

/** An alert row: from the REST API, or from a live frame, which adds the host's name. */
export type Alert = AlertJson & Partial<Pick<AlertEventData, 'hostname'>>;

export interface Host {
  host_id: string;
  hostname: string;
  status: HostStatus;
  platform: string;
  agent_version: string;
  registered_at?: string;
  last_seen: string | null;
  /** Bumped by every status change: of two states of a host, the higher is newer. */
  status_version?: number;
  alerts_24h?: number;
}

export interface RuleInput {
  host_id: string | null;
  name: string;
  tripwire_type: TripwireType;
  severity: Severity;
  target: string;
  config: Record<string, unknown>;
  enabled: boolean;
}

export interface Rule extends RuleInput {
  rule_id: string;
  created_at: string;
  updated_at: string;
}

export interface AuditEntry {
  seq: number;
  occurred_at: string;
  actor: string;
  action: string;
  host_id: string | null;
  target: string;
  details: unknown;
  hash: string;
}

export interface IncidentQuery {
  /** Empty: every state. */
  state: IncidentState[];
  severity: Severity[];
  host: string | null;
}

export interface IncidentChange {
  state?: CollectingState;
  assignee?: string | null;
  note?: string;
  expected_version: number;
}

export interface IncidentResolutionInput {
  state: FinalState;
  resolution_method: ResolutionMethod;
  root_cause: string;
  note?: string;
  expected_version: number;
}

/** GET /api/auth/config: whether the fan-out offers single sign-on, and under what name. */
export interface AuthConfig {
  oidc: { name: string; login_url: string } | null;
}

export interface EnrollmentToken {
  token_id: string;
  name: string;
  hostname_pattern: string | null;
  max_uses: number;
  uses: number;
  status: 'active' | 'expired' | 'revoked' | 'used_up';
  expires_at: string;
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface EnrollmentTokenInput {
  name: string;
  max_uses: number;
  expires_in_s: number;
  hostname_pattern: string | null;
}

/** A re-registration of an existing hostname waiting for an admin. */
/** A notification route as the API shows it (secrets by name only). */
export interface NotificationRouteJson {
  route_id: string;
  name: string;
  enabled: boolean;
  kind: string;
  events: string[];
  min_severity: string;
  throttle_per_minute: number | null;
}

export interface NotificationDeliveryJson {
  delivery_id: string;
  route_id: string;
  event_key: string;
  event: Record<string, unknown>;
  state: 'pending' | 'sending' | 'delivered' | 'dead';
  attempts: number;
  last_error: string | null;
  created_at: string;
}

export interface Enrollment {
  enrollment_id: string;
  host_id: string;
  hostname: string;
  platform: string;
  agent_version: string;
  peer: string;
  state: 'pending' | 'approved' | 'denied';
  attempts: number;
  requested_at: string;
  expires_at: string;
  decided_by: string | null;
}

export interface Operator {
  name: string;
  role: OperatorRole;
}

/** POST /api/hosts/{id}/tasks. */
export interface TaskInput {
  action: TaskAction;
  parameters: Record<string, unknown>;
  timeout_seconds?: number;
  expires_in_s?: number;
  alert_id?: string;
  incident_id?: string;
}

/** Alerts of each severity in one minute. */
export interface MinuteBucket extends Record<Severity, number> {
  minute: string;
}

/** A refused request, with the API's code and per-field problems. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(
      0,
      'network',
      'the server cannot be reached; retrying helps once it is back',
    );
  }
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as {
    error?: { code: string; message: string; fields?: Record<string, string> };
  } | null;
  if (!res.ok) {
    const e = json?.error;
    if (res.status === 401) window.dispatchEvent(new Event('tripwire:signed-out'));
    throw new ApiError(
      res.status,
      e?.code ?? 'http_error',
      e?.message ?? `HTTP ${res.status}`,
      e?.fields,
    );
  }
  return json as T;
}

export type { SuppressionJson };

/** What POST/PUT /api/suppressions take (docs/suppressions.md). */
export type SuppressionInput = Pick<
  SuppressionJson,
  'host_id' | 'rule_name' | 'tripwire_type' | 'severity' | 'detail' | 'justification' | 'expires_at'
>;

export interface AlertQuery {
  severity: Severity[];
  type: TripwireType[];
  host: string | null;
  /** Search (rule name or event detail text), SEARCH_LENGTH long; absent or '' for none. */
  q?: string;
}

const filterParams = (f: AlertQuery) => {
  const q = new URLSearchParams();
  if (f.severity.length) q.set('severity', f.severity.join(','));
  if (f.type.length) q.set('type', f.type.join(','));
  if (f.host) q.set('host_id', f.host);
  return q;
};

/** What an export link asks for: the alerts filter (with its search), incidents', or the audit log's. */
export type ExportRequest =
  | { kind: 'alerts'; filter: AlertQuery }
  | { kind: 'incidents'; filter: IncidentQuery }
  | { kind: 'audit'; from: string | null; to: string | null; hostId: string | null };

/**
 * The URL of an export of what a page shows. A plain link downloads it: the browser sends the
 * session cookie and asks for gzip itself, and saves the file under the server's name.
 */
export function exportUrl(format: 'csv' | 'ndjson', request: ExportRequest): string {
  let q: URLSearchParams;
  if (request.kind === 'alerts') {
    q = filterParams(request.filter);
    if (request.filter.q) q.set('q', request.filter.q);
  } else if (request.kind === 'incidents') {
    q = new URLSearchParams();
    if (request.filter.state.length) q.set('state', request.filter.state.join(','));
    if (request.filter.severity.length) q.set('severity', request.filter.severity.join(','));
    if (request.filter.host) q.set('host_id', request.filter.host);
  } else {
    q = new URLSearchParams();
    if (request.from) q.set('from', request.from);
    if (request.to) q.set('to', request.to);
    if (request.hostId) q.set('host_id', request.hostId);
  }
  q.set('format', format);
  return `/api/${request.kind}/export?${q}`;
}

export const api = {
  session: () => request<Operator>('GET', '/api/session'),
  signIn: (token: string) => request<Operator>('POST', '/api/session', { token }),
  signOut: () => request<void>('DELETE', '/api/session'),
  authConfig: () => request<AuthConfig>('GET', '/api/auth/config'),

  /** A page of alerts, newest first: after `cursor`, or else before `to`. */
  alerts(filter: AlertQuery, page: { cursor?: string | null; to?: string | null }, limit = 200) {
    const q = filterParams(filter);
    if (filter.q) q.set('q', filter.q);
    q.set('limit', String(limit));
    if (page.cursor) q.set('cursor', page.cursor);
    else if (page.to) q.set('to', page.to);
    return request<{ alerts: Alert[]; next_cursor: string | null }>('GET', `/api/alerts?${q}`);
  },
  alertsPerMinute(filter: AlertQuery, minutes = 60) {
    const q = filterParams(filter);
    q.set('minutes', String(minutes));
    return request<{ buckets: MinuteBucket[]; counted_up_to: string }>(
      'GET',
      `/api/stats/alerts-per-minute?${q}`,
    );
  },
  hosts: () => request<{ hosts: Host[] }>('GET', '/api/hosts'),
  rules: () => request<{ rules: Rule[] }>('GET', '/api/rules'),
  createRule: (rule: RuleInput) => request<Rule>('POST', '/api/rules', rule),
  updateRule: (id: string, rule: RuleInput) => request<Rule>('PUT', `/api/rules/${id}`, rule),
  deleteRule: (id: string) => request<void>('DELETE', `/api/rules/${id}`),
  suppressions: () => request<{ suppressions: SuppressionJson[] }>('GET', '/api/suppressions'),
  suppressionDraft: (alertId: string) =>
    request<SuppressionInput>('GET', `/api/suppressions/draft?alert_id=${alertId}`),
  createSuppression: (s: SuppressionInput) =>
    request<SuppressionJson>('POST', '/api/suppressions', s),
  updateSuppression: (id: string, s: SuppressionInput) =>
    request<SuppressionJson>('PUT', `/api/suppressions/${id}`, s),
  expireSuppression: (id: string) =>
    request<SuppressionJson>('POST', `/api/suppressions/${id}/expire`),
  audit(from: string | null, to: string | null, hostId: string | null) {
    const q = new URLSearchParams({ limit: '1000' });
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    if (hostId) q.set('host_id', hostId);
    return request<{ entries: AuditEntry[] }>('GET', `/api/audit?${q}`);
  },
  incidents(filter: IncidentQuery, limit = 200, offset = 0) {
    const q = new URLSearchParams();
    if (filter.state.length) q.set('state', filter.state.join(','));
    if (filter.severity.length) q.set('severity', filter.severity.join(','));
    if (filter.host) q.set('host_id', filter.host);
    q.set('limit', String(limit));
    q.set('offset', String(offset));
    return request<{ incidents: IncidentJson[]; total: number; limit: number; offset: number }>(
      'GET',
      `/api/incidents?${q}`,
    );
  },
  incident: (id: string) => request<{ incident: IncidentJson }>('GET', `/api/incidents/${id}`),
  incidentAlerts(id: string, severity: Severity[], limit = 50, offset = 0) {
    const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (severity.length) q.set('severity', severity.join(','));
    return request<{ alerts: Alert[]; total: number }>('GET', `/api/incidents/${id}/alerts?${q}`);
  },
  updateIncident: (id: string, change: IncidentChange) =>
    request<{ incident: IncidentJson }>('PATCH', `/api/incidents/${id}`, change),
  resolveIncident: (id: string, resolution: IncidentResolutionInput) =>
    request<{ incident: IncidentJson }>('POST', `/api/incidents/${id}/resolve`, resolution),
  enrollmentTokens: () => request<{ tokens: EnrollmentToken[] }>('GET', '/api/enrollment-tokens'),
  /** The answer is the only time the token itself is seen. */
  createEnrollmentToken: (input: EnrollmentTokenInput) =>
    request<EnrollmentToken & { token: string }>('POST', '/api/enrollment-tokens', input),
  revokeEnrollmentToken: (id: string) =>
    request<EnrollmentToken>('DELETE', `/api/enrollment-tokens/${id}`),
  pendingEnrollments: () =>
    request<{ enrollments: Enrollment[] }>('GET', '/api/enrollments/pending'),
  decideEnrollment: (id: string, decision: 'approve' | 'deny') =>
    request<{ enrollment: Enrollment }>('POST', `/api/enrollments/${id}/${decision}`, {}),
  tasks(filter: TaskQuery, cursor: string | null, limit = 100) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (filter.state.length) q.set('state', filter.state.join(','));
    if (filter.action.length) q.set('action', filter.action.join(','));
    if (filter.host) q.set('host_id', filter.host);
    if (cursor) q.set('cursor', cursor);
    return request<{ tasks: TaskJson[]; next_cursor: string | null }>('GET', `/api/tasks?${q}`);
  },
  task: (id: string) => request<{ task: TaskJson }>('GET', `/api/tasks/${id}`),
  /** Output chunks after sequence `after`, in order; `next_after` null once all are read. */
  taskOutput: (id: string, after = 0) =>
    request<{ output: TaskOutputJson[]; next_after: number | null }>(
      'GET',
      `/api/tasks/${id}/output?after=${after}`,
    ),
  /** Where the browser downloads a file_fetch task's content (an attachment). */
  taskDownloadUrl: (id: string) => `/api/tasks/${id}/output?download=1`,
  createTask: (hostId: string, input: TaskInput) =>
    request<{ task: TaskJson }>('POST', `/api/hosts/${hostId}/tasks`, input),
  cancelTask: (id: string) => request<{ task: TaskJson }>('POST', `/api/tasks/${id}/cancel`, {}),
  approveTask: (id: string) => request<{ task: TaskJson }>('POST', `/api/tasks/${id}/approve`, {}),
  /** What the host's agent reported it will run; null policy when it never reported one. */
  taskPolicy: (hostId: string) =>
    request<{ policy: TaskPolicyJson | null }>('GET', `/api/hosts/${hostId}/task-policy`),
  notificationRoutes: () =>
    request<{ routes: NotificationRouteJson[] }>('GET', '/api/notification-routes'),
  deadDeliveries: () =>
    request<{ deliveries: NotificationDeliveryJson[] }>(
      'GET',
      '/api/notification-deliveries?state=dead&limit=200',
    ),
  retryDelivery: (id: string) =>
    request<NotificationDeliveryJson>('POST', `/api/notification-deliveries/${id}/retry`, {}),
  verifyAudit: () =>
    request<{ ok: boolean; checked: number; broken_at: number | null; reason: string | null }>(
      'GET',
      '/api/audit/verify',
    ),
};
