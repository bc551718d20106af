import type { BusPublisher } from '@tripwire/bus';
import {
  createIncident,
  FINAL_STATES,
  getIncident,
  INCIDENT_STATES,
  type Incident,
  IncidentConflictError,
  IncidentNotFoundError,
  type IncidentState,
  IncidentValidationError,
  InvalidTransitionError,
  incidentMessage,
  isFinalState,
  listIncidentAlerts,
  listIncidents,
  type Pool,
  RESOLUTION_METHODS,
  resolveIncident,
  type Severity,
  streamIncidents,
  type TripwireType,
  toIncidentJson,
  updateIncident,
} from '@tripwire/storage';
import {
  MAX_ASSIGNEE_LENGTH,
  MAX_NOTE_LENGTH,
  MAX_ROOT_CAUSE_LENGTH,
  MAX_RULE_NAME_LENGTH,
  PRINTABLE_LINE,
  PRINTABLE_TEXT,
  SEVERITIES,
  TRIPWIRE_TYPES,
} from '@tripwire/wire';
import { z } from 'zod';
import { alertJson } from './alert-json.js';
import { hostParam, integerParam, listParam, parseBody, timeRange, UUID } from './api-params.js';
import type { Exporter } from './exporter.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `must be one of ${values.join(', ')}` });
// The limits and character rules are @tripwire/wire's, so gRPC (ingest) refuses the same things.
const text = (max: number, printable = PRINTABLE_LINE) =>
  z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(
      printable,
      printable === PRINTABLE_TEXT
        ? 'must not contain control characters other than newline and tab'
        : 'must not contain control characters',
    );
const freeText = (max: number) => text(max, PRINTABLE_TEXT);
const expectedVersion = z
  .number({ message: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be at least 1')
  .optional();

const createSchema = z.strictObject({
  host_id: z.string({ message: 'is required' }).regex(UUID, 'must be a host UUID'),
  tripwire_type: oneOf(TRIPWIRE_TYPES),
  severity: oneOf(SEVERITIES),
  rule_name: z
    .string({ message: 'must be a string' })
    .trim()
    .max(MAX_RULE_NAME_LENGTH, `must be at most ${MAX_RULE_NAME_LENGTH} characters`)
    .regex(PRINTABLE_LINE, 'must not contain control characters')
    .optional(),
  assignee: text(MAX_ASSIGNEE_LENGTH).nullable().optional(),
  note: freeText(MAX_NOTE_LENGTH).optional(),
});

const patchSchema = z
  .strictObject({
    state: oneOf(INCIDENT_STATES).optional(),
    assignee: text(MAX_ASSIGNEE_LENGTH).nullable().optional(),
    note: freeText(MAX_NOTE_LENGTH).optional(),
    expected_version: expectedVersion,
    resolution_method: oneOf(RESOLUTION_METHODS).optional(),
    root_cause: freeText(MAX_ROOT_CAUSE_LENGTH).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.state === undefined && b.assignee === undefined && b.note === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'has nothing to change: give a state, an assignee or a note',
      });
    }
    const resolving = b.state !== undefined && isFinalState(b.state);
    for (const field of ['resolution_method', 'root_cause'] as const) {
      if (resolving && b[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `is required for ${b.state}` });
      if (!resolving && b[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'is given only with state RESOLVED or FALSE_POSITIVE',
        });
    }
  });

const resolveSchema = z.strictObject({
  state: oneOf(FINAL_STATES).default('RESOLVED'),
  resolution_method: oneOf(RESOLUTION_METHODS),
  root_cause: freeText(MAX_ROOT_CAUSE_LENGTH),
  note: freeText(MAX_NOTE_LENGTH).optional(),
  expected_version: expectedVersion,
});

function incidentIdParam(req: ApiRequest) {
  const id = (req.params[0] ?? '').toLowerCase();
  if (!UUID.test(id))
    throw new ApiError(404, 'incident_not_found', `no incident ${id.slice(0, 40)}`);
  return id;
}

/** Storage's typed refusals as the contract's HTTP errors (docs/incidents.md). */
function incidentError(err: unknown): never {
  if (err instanceof IncidentNotFoundError)
    throw new ApiError(404, 'incident_not_found', err.message);
  if (err instanceof InvalidTransitionError)
    throw new ApiError(409, 'invalid_transition', err.message, undefined, {
      from: err.from,
      to: err.to,
      allowed: err.allowed,
    });
  if (err instanceof IncidentConflictError)
    throw new ApiError(409, 'version_conflict', err.message, undefined, {
      current_version: err.actualVersion,
    });
  if (err instanceof IncidentValidationError) {
    const field = err.message.startsWith('no host ') ? 'host_id' : 'body';
    throw new ApiError(400, 'validation_failed', err.message, {
      [field]: field === 'host_id' ? 'names no registered host' : err.message,
    });
  }
  throw err;
}

/** The columns of an incident export, in order (toIncidentJson's fields). */
const INCIDENT_COLUMNS = [
  'incident_id',
  'host_id',
  'hostname',
  'rule_name',
  'tripwire_type',
  'state',
  'max_severity',
  'alert_count',
  'first_seen',
  'last_seen',
  'assignee',
  'notes',
  'resolution_method',
  'root_cause',
  'created_by',
  'created_at',
  'updated_at',
  'resolved_at',
  'version',
  'revision',
] as const;

/** The filters GET /api/incidents and its export share: state, severity, host, type. */
const incidentFilter = (query: URLSearchParams) => ({
  states: listParam(query, 'state', INCIDENT_STATES) as IncidentState[],
  severities: listParam(query, 'severity', SEVERITIES) as Severity[],
  hostId: hostParam(query),
  tripwireTypes: listParam(query, 'type', TRIPWIRE_TYPES) as TripwireType[],
});

export interface IncidentApiDeps {
  pool: Pool;
  exporter: Exporter;
  /**
   * Every successful change is published on each of these: the `events` stream
   * (browsers, via this service's own subscriber) and `control` (ingest's StreamIncidents).
   */
  publishers: BusPublisher[];
}

/** /api/incidents: docs/incidents.md#rest-fan-out-service, services/fanout/openapi.yaml. */
export function registerIncidentApi(
  ctx: RouteContext,
  { pool, publishers, exporter }: IncidentApiDeps,
) {
  const announce = (incident: Incident, opened: boolean) => {
    const message = incidentMessage(incident, opened);
    for (const publisher of publishers) publisher.publish([message]);
  };

  route(ctx, 'get', '/api/incidents', 'any', async ({ query }) => {
    const limit = integerParam(query, 'limit', { min: 1, max: 500, fallback: 50 });
    const offset = integerParam(query, 'offset', {
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      fallback: 0,
    });
    const page = await listIncidents(pool, { ...incidentFilter(query), limit, offset });
    return {
      body: { incidents: page.incidents.map(toIncidentJson), total: page.total, limit, offset },
    };
  });

  // Active in a time range only when one is asked for: the list has no default range.
  route(ctx, 'get', '/api/incidents/export', 'any', async (req) => {
    const { query } = req;
    const ranged = query.has('from') || query.has('to');
    const filter = { ...incidentFilter(query), ...(ranged ? timeRange(query) : {}) };
    return exporter.serve(req, {
      kind: 'incidents',
      columns: INCIDENT_COLUMNS,
      toRecord: toIncidentJson,
      filter: {
        state: filter.states,
        severity: filter.severities,
        host_id: filter.hostId ?? null,
        type: filter.tripwireTypes,
        from: filter.from?.toISOString() ?? null,
        to: filter.to?.toISOString() ?? null,
      },
      open: (options) => streamIncidents(pool, filter, options),
    });
  });

  route(ctx, 'get', '/api/incidents/:id', 'any', async (req) => {
    const id = incidentIdParam(req);
    const incident = await getIncident(pool, id);
    if (!incident) throw new ApiError(404, 'incident_not_found', `no incident ${id}`);
    return { body: { incident: toIncidentJson(incident) } };
  });

  route(ctx, 'get', '/api/incidents/:id/alerts', 'any', async (req) => {
    const id = incidentIdParam(req);
    const { query } = req;
    const page = await listIncidentAlerts(pool, id, {
      severities: listParam(query, 'severity', SEVERITIES) as Severity[],
      limit: integerParam(query, 'limit', { min: 1, max: 1000, fallback: 100 }),
      offset: integerParam(query, 'offset', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }),
    }).catch(incidentError);
    return { body: { alerts: page.alerts.map(alertJson), total: page.total } };
  });

  route(ctx, 'post', '/api/incidents', 'admin', async (req) => {
    const b = parseBody(createSchema, req.body, 'incident');
    const incident = await createIncident(
      pool,
      {
        hostId: b.host_id.toLowerCase(),
        tripwireType: b.tripwire_type,
        severity: b.severity,
        ...(b.rule_name !== undefined ? { ruleName: b.rule_name } : {}),
        ...(b.assignee !== undefined ? { assignee: b.assignee } : {}),
        ...(b.note !== undefined ? { note: b.note } : {}),
      },
      { actor: auditActor(req.operator) },
    ).catch(incidentError);
    announce(incident, true);
    return { status: 201, body: { incident: toIncidentJson(incident) } };
  });

  /** An operator's change, made only if the incident is still at `expectedVersion`; announced and answered. */
  const applyChange = async (
    req: ApiRequest,
    expectedVersion: number | undefined,
    change: (by: { actor: string; expectedVersion: number | undefined }) => Promise<Incident>,
  ) => {
    const incident = await change({ actor: auditActor(req.operator), expectedVersion }).catch(
      incidentError,
    );
    announce(incident, false);
    return { body: { incident: toIncidentJson(incident) } };
  };

  route(ctx, 'patch', '/api/incidents/:id', 'admin', async (req) => {
    const id = incidentIdParam(req);
    const b = parseBody(patchSchema, req.body, 'incident change');
    return applyChange(req, b.expected_version, (by) =>
      updateIncident(
        pool,
        id,
        {
          ...(b.state !== undefined ? { state: b.state } : {}),
          ...(b.assignee !== undefined ? { assignee: b.assignee } : {}),
          ...(b.note !== undefined ? { note: b.note } : {}),
          ...(b.resolution_method !== undefined ? { resolutionMethod: b.resolution_method } : {}),
          ...(b.root_cause !== undefined ? { rootCause: b.root_cause } : {}),
        },
        by,
      ),
    );
  });

  route(ctx, 'post', '/api/incidents/:id/resolve', 'admin', async (req) => {
    const id = incidentIdParam(req);
    const b = parseBody(resolveSchema, req.body, 'resolution');
    return applyChange(req, b.expected_version, (by) =>
      resolveIncident(
        pool,
        id,
        {
          state: b.state,
          resolutionMethod: b.resolution_method,
          rootCause: b.root_cause,
          ...(b.note !== undefined ? { note: b.note } : {}),
        },
        by,
      ),
    );
  });
}
