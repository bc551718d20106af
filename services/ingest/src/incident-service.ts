import {
  type Metadata,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import { AuthError, auditActor, type Operator, type OperatorAuth } from '@tripwire/operator-auth';
import { type IncidentServiceServer, IncidentState } from '@tripwire/proto';
import {
  createIncident,
  getIncident,
  type Incident,
  IncidentConflictError,
  IncidentNotFoundError,
  IncidentValidationError,
  InvalidTransitionError,
  listIncidentAlerts,
  listIncidents,
  type Pool,
  resolveIncident,
  toIncidentJson,
  updateIncident,
} from '@tripwire/storage';
import { bearerToken, CallError } from './agent-auth.js';
import type { IncidentAnnouncer } from './incident-announcer.js';
import { type IncidentStreams, incidentFilter } from './incident-streams.js';
import {
  BadField,
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
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';

export interface IncidentServiceDeps {
  pool: Pool;
  /** Verifies operator tokens; undefined when OPERATOR_JWT_SECRET is not set (every call refused). */
  operatorAuth: OperatorAuth | undefined;
  announcer: IncidentAnnouncer;
  streams: IncidentStreams;
  metrics: IngestMetrics;
  log: Logger;
  isDraining: () => boolean;
}

export const NO_SECRET_MESSAGE =
  'IncidentService needs operator tokens: set OPERATOR_JWT_SECRET on the ingest service';

/** A storage or validation failure as the status a client can act on. */
function toCallError(err: unknown): CallError {
  if (err instanceof CallError) return err;
  if (err instanceof BadField || err instanceof IncidentValidationError) {
    return new CallError(status.INVALID_ARGUMENT, err.message);
  }
  if (err instanceof IncidentNotFoundError) return new CallError(status.NOT_FOUND, err.message);
  if (err instanceof InvalidTransitionError) {
    return new CallError(status.FAILED_PRECONDITION, err.message);
  }
  if (err instanceof IncidentConflictError) return new CallError(status.ABORTED, err.message);
  // A PostgreSQL error with an SQLSTATE outside connection (08) and shutdown (57P) classes is a bug.
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57P)/.test(code)) {
    return new CallError(status.INTERNAL, 'internal error; see the ingest service logs');
  }
  return new CallError(status.UNAVAILABLE, 'the database is unavailable; retry with backoff');
}

const WRITES = new Set(['CreateIncident', 'UpdateIncident', 'ResolveIncident']);

/** The tripwire.v1.IncidentService handlers: operators read, change and watch incidents. */
export function createIncidentService(
  deps: IncidentServiceDeps,
): IncidentServiceServer & UntypedServiceImplementation {
  const { pool, metrics, log } = deps;

  const count = (method: string, code: status) =>
    metrics.incidentRequests.inc({ method, code: status[code] });

  const authorize = async (method: string, metadata: Metadata): Promise<Operator> => {
    if (!deps.operatorAuth) throw new CallError(status.UNAUTHENTICATED, NO_SECRET_MESSAGE);
    let operator: Operator;
    try {
      operator = await deps.operatorAuth.verify(bearerToken(metadata));
    } catch (err) {
      if (err instanceof AuthError) throw new CallError(status.UNAUTHENTICATED, err.message);
      throw err;
    }
    if (WRITES.has(method) && operator.role !== 'admin') {
      throw new CallError(
        status.PERMISSION_DENIED,
        `${method} needs the admin role; ${operator.name} is a ${operator.role}`,
      );
    }
    return operator;
  };

  const refusal = (method: string, err: unknown): Partial<ServiceError> => {
    const callError = toCallError(err);
    if (callError.code === status.INTERNAL || callError.code === status.UNAVAILABLE) {
      log.error({ err, method }, 'incident call failed');
    }
    count(method, callError.code);
    return { code: callError.code, details: callError.message };
  };

  /** Authenticates, runs `handle`, and answers with its result or the mapped error. */
  const unary =
    <Req, Res>(method: string, handle: (req: Req, operator: Operator) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      (async () => {
        const operator = await authorize(method, call.metadata);
        if (call.request instanceof MalformedMessage) throw new BadField(call.request.describe());
        return handle(call.request, operator);
      })().then(
        (response) => {
          count(method, status.OK);
          callback(null, response);
        },
        (err) => callback(refusal(method, err)),
      );
    };

  const answer = (incident: Incident) => ({ incident: toWireIncident(toIncidentJson(incident)) });
  const announced = (incident: Incident, opened: boolean) => {
    deps.announcer.announce(incident, opened);
    return answer(incident);
  };

  return {
    createIncident: unary('CreateIncident', async (req, operator) => {
      checkUuid('host_id', req.hostId);
      const incident = await createIncident(
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
      return announced(incident, true);
    }),

    getIncident: unary('GetIncident', async (req) => {
      const incident = await getIncident(pool, checkUuid('incident_id', req.incidentId));
      if (!incident) throw new IncidentNotFoundError(req.incidentId);
      return answer(incident);
    }),

    listIncidents: unary('ListIncidents', async (req) => {
      const limit = pageSize(req.pageSize, 50, 500);
      const offset = pageOffset(req.pageToken);
      const page = await listIncidents(pool, {
        states: names('states', req.states, stateName),
        severities: names('severities', req.severities, severityName),
        ...(req.hostId ? { hostId: checkUuid('host_id', req.hostId) } : {}),
        limit,
        offset,
      });
      return {
        incidents: page.incidents.map((i) => toWireIncident(toIncidentJson(i))),
        totalCount: page.total,
        nextPageToken: nextPageToken(offset, page.incidents.length, page.total),
      };
    }),

    listIncidentAlerts: unary('ListIncidentAlerts', async (req) => {
      const limit = pageSize(req.pageSize, 100, 1000);
      const offset = pageOffset(req.pageToken);
      const page = await listIncidentAlerts(pool, checkUuid('incident_id', req.incidentId), {
        severities: names('severities', req.severities, severityName),
        limit,
        offset,
      });
      return {
        alerts: page.alerts.map(toWireAlert),
        totalCount: page.total,
        nextPageToken: nextPageToken(offset, page.alerts.length, page.total),
      };
    }),

    updateIncident: unary('UpdateIncident', async (req, operator) => {
      checkUuid('incident_id', req.incidentId);
      const state =
        req.state === IncidentState.INCIDENT_STATE_UNSPECIFIED
          ? undefined
          : stateName('state', req.state);
      if (state === 'RESOLVED' || state === 'FALSE_POSITIVE') {
        throw new BadField(
          `state ${state} is set with ResolveIncident (it needs resolution_method and root_cause)`,
        );
      }
      const incident = await updateIncident(
        pool,
        req.incidentId,
        {
          ...(state ? { state } : {}),
          ...(req.assignee !== undefined ? { assignee: req.assignee || null } : {}),
          ...(req.note ? { note: req.note } : {}),
        },
        {
          actor: auditActor(operator),
          ...(req.expectedVersion ? { expectedVersion: req.expectedVersion } : {}),
        },
      );
      return announced(incident, false);
    }),

    resolveIncident: unary('ResolveIncident', async (req, operator) => {
      checkUuid('incident_id', req.incidentId);
      if (!req.resolutionMethod) {
        throw new BadField('resolution_method is required: MANUAL, AUTOMATED or PLAYBOOK');
      }
      const resolutionMethod = methodName('resolution_method', req.resolutionMethod);
      if (!req.rootCause.trim()) throw new BadField('root_cause is required');
      const incident = await resolveIncident(
        pool,
        req.incidentId,
        {
          state: req.falsePositive ? 'FALSE_POSITIVE' : 'RESOLVED',
          resolutionMethod,
          rootCause: req.rootCause,
          ...(req.note ? { note: req.note } : {}),
        },
        {
          actor: auditActor(operator),
          ...(req.expectedVersion ? { expectedVersion: req.expectedVersion } : {}),
        },
      );
      return announced(incident, false);
    }),

    streamIncidents(call) {
      const method = 'StreamIncidents';
      (async () => {
        if (deps.isDraining()) {
          throw new CallError(
            status.UNAVAILABLE,
            'this ingest instance is shutting down; connect to another',
          );
        }
        await authorize(method, call.metadata);
        if (call.request instanceof MalformedMessage) throw new BadField(call.request.describe());
        const filter = incidentFilter(call.request);
        await deps.streams.watch(call, filter);
        count(method, status.OK);
      })().catch((err) => call.emit('error', refusal(method, err)));
    },
  };
}
