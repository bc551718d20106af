import { auditActor, type Operator } from '@tripwire/operator-auth';
import {
  type CreateIncidentRequest,
  type GetIncidentRequest,
  IncidentState,
  type ListIncidentAlertsRequest,
  type ListIncidentAlertsResponse,
  type ListIncidentsRequest,
  type ListIncidentsResponse,
  type ResolveIncidentRequest,
  type UpdateIncidentRequest,
} from '@tripwire/proto';
import {
  createIncident,
  getIncident,
  type Incident,
  IncidentNotFoundError,
  IncidentValidationError,
  listIncidentAlerts,
  listIncidents,
  type Pool,
  resolveIncident,
  toIncidentJson,
  updateIncident,
} from '@tripwire/storage';
import {
  isFinalState,
  MAX_ASSIGNEE_LENGTH,
  MAX_NOTE_LENGTH,
  MAX_ROOT_CAUSE_LENGTH,
  MAX_RULE_NAME_LENGTH,
} from '@tripwire/wire';
import {
  BadField,
  checkText,
  checkUuid,
  methodName,
  names,
  nextPageToken,
  pageOffset,
  pageSize,
  severityName,
  stateName,
  toWireAlert,
  toWireIncident,
  typeName,
} from './incident-wire.js';

// Each IncidentService method's own work: check the request's fields, call storage, shape the
// answer. Authentication, roles, metrics and error statuses wrap them in incident-service.ts.

/** The audit fields of a change, with the optimistic-concurrency check when the caller asked for it. */
const changeContext = (operator: Operator, expectedVersion: number | undefined) => ({
  actor: auditActor(operator),
  ...(expectedVersion ? { expectedVersion } : {}),
});

/** The free-text fields a request may carry, each within the limits REST applies too. */
function checkTextFields(req: {
  note?: string;
  assignee?: string | undefined;
  rootCause?: string;
  ruleName?: string;
}): void {
  if (req.note) checkText('note', req.note, MAX_NOTE_LENGTH, { allowNewlines: true });
  if (req.rootCause) {
    checkText('root_cause', req.rootCause, MAX_ROOT_CAUSE_LENGTH, { allowNewlines: true });
  }
  if (req.assignee) checkText('assignee', req.assignee, MAX_ASSIGNEE_LENGTH);
  if (req.ruleName) checkText('rule_name', req.ruleName, MAX_RULE_NAME_LENGTH);
}

/** The page a list request asks for: page_size defaulted and capped, page_token decoded. */
const pageWindow = (
  req: { pageSize: number; pageToken: string },
  fallback: number,
  max: number,
) => ({
  limit: pageSize(req.pageSize, fallback, max),
  offset: pageOffset(req.pageToken),
});

export async function openIncident(
  pool: Pool,
  req: CreateIncidentRequest,
  operator: Operator,
): Promise<Incident> {
  checkUuid('host_id', req.hostId);
  checkTextFields(req);
  return createIncident(
    pool,
    {
      hostId: req.hostId,
      tripwireType: typeName('tripwire_type', req.tripwireType),
      severity: severityName('severity', req.severity),
      ruleName: req.ruleName,
      assignee: req.assignee || null,
      ...(req.note ? { note: req.note } : {}),
    },
    { actor: auditActor(operator) },
  ).catch((err: unknown) => {
    // Storage says "no host <id>": name the request field.
    if (err instanceof IncidentValidationError && err.message.startsWith('no host')) {
      throw new BadField(`host_id ${req.hostId} is not a registered host`);
    }
    throw err;
  });
}

export async function findIncident(pool: Pool, req: GetIncidentRequest): Promise<Incident> {
  const incident = await getIncident(pool, checkUuid('incident_id', req.incidentId));
  if (!incident) throw new IncidentNotFoundError(req.incidentId);
  return incident;
}

export async function listIncidentsPage(
  pool: Pool,
  req: ListIncidentsRequest,
): Promise<ListIncidentsResponse> {
  const window = pageWindow(req, 50, 500);
  const page = await listIncidents(pool, {
    states: names('states', req.states, stateName),
    severities: names('severities', req.severities, severityName),
    ...(req.hostId ? { hostId: checkUuid('host_id', req.hostId) } : {}),
    ...window,
  });
  return {
    incidents: page.incidents.map((i) => toWireIncident(toIncidentJson(i))),
    totalCount: page.total,
    nextPageToken: nextPageToken(window.offset, page.incidents.length, page.total),
  };
}

export async function listIncidentAlertsPage(
  pool: Pool,
  req: ListIncidentAlertsRequest,
): Promise<ListIncidentAlertsResponse> {
  const window = pageWindow(req, 100, 1000);
  const page = await listIncidentAlerts(pool, checkUuid('incident_id', req.incidentId), {
    severities: names('severities', req.severities, severityName),
    ...window,
  });
  return {
    alerts: page.alerts.map(toWireAlert),
    totalCount: page.total,
    nextPageToken: nextPageToken(window.offset, page.alerts.length, page.total),
  };
}

export async function changeIncident(
  pool: Pool,
  req: UpdateIncidentRequest,
  operator: Operator,
): Promise<Incident> {
  checkUuid('incident_id', req.incidentId);
  checkTextFields(req);
  const state =
    req.state === IncidentState.INCIDENT_STATE_UNSPECIFIED
      ? undefined
      : stateName('state', req.state);
  if (state && isFinalState(state)) {
    throw new BadField(
      `state ${state} is set with ResolveIncident (it needs resolution_method and root_cause)`,
    );
  }
  return updateIncident(
    pool,
    req.incidentId,
    {
      ...(state ? { state } : {}),
      ...(req.assignee !== undefined ? { assignee: req.assignee || null } : {}),
      ...(req.note ? { note: req.note } : {}),
    },
    changeContext(operator, req.expectedVersion),
  );
}

export async function closeIncident(
  pool: Pool,
  req: ResolveIncidentRequest,
  operator: Operator,
): Promise<Incident> {
  checkUuid('incident_id', req.incidentId);
  checkTextFields(req);
  if (!req.resolutionMethod) {
    throw new BadField('resolution_method is required: MANUAL, AUTOMATED or PLAYBOOK');
  }
  const resolutionMethod = methodName('resolution_method', req.resolutionMethod);
  if (!req.rootCause.trim()) throw new BadField('root_cause is required');
  return resolveIncident(
    pool,
    req.incidentId,
    {
      state: req.falsePositive ? 'FALSE_POSITIVE' : 'RESOLVED',
      resolutionMethod,
      rootCause: req.rootCause,
      ...(req.note ? { note: req.note } : {}),
    },
    changeContext(operator, req.expectedVersion),
  );
}
