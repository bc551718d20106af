import { type Metadata, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import {
  AuthError,
  createOperatorAuth,
  type Operator,
  type OperatorAuth,
} from '@tripwire/operator-auth';
import type { IncidentServiceServer } from '@tripwire/proto';
import { credentialStore, type Incident, type Pool, toIncidentJson } from '@tripwire/storage';
import { bearerToken, CallError } from './agent-auth.js';
import type { HandlerGuard } from './handler-guard.js';
import type { IncidentAnnouncer } from './incident-announcer.js';
import {
  changeIncident,
  closeIncident,
  findIncident,
  listIncidentAlertsPage,
  listIncidentsPage,
  openIncident,
} from './incident-handlers.js';
import { toCallError } from './incident-status.js';
import { type IncidentStreams, incidentFilter } from './incident-streams.js';
import { BadField, toWireIncident } from './incident-wire.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';
import { operatorCalls } from './operator-calls.js';

export interface IncidentServiceDeps {
  pool: Pool;
  /** Verifies operator tokens; undefined when OPERATOR_JWT_SECRET is not set (every call refused). */
  operatorAuth: OperatorAuth | undefined;
  announcer: IncidentAnnouncer;
  streams: IncidentStreams;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  log: Logger;
  isDraining: () => boolean;
}

export const NO_SECRET_MESSAGE =
  'IncidentService needs operator tokens: set OPERATOR_JWT_SECRET on the ingest service';

/**
 * The operator credential verifier for OPERATOR_JWT_SECRET: operator JWTs (with exp, at most
 * OPERATOR_TOKEN_MAX_AGE_S, not revoked by an admin) and API tokens (twk_…), both checked
 * against PostgreSQL on every call. Without a secret, says that every call will be refused.
 */
export function operatorAuthFrom(
  config: { OPERATOR_JWT_SECRET?: string | undefined; OPERATOR_TOKEN_MAX_AGE_S: number },
  pool: Pool,
  log: Logger,
): OperatorAuth | undefined {
  const secret = config.OPERATOR_JWT_SECRET;
  if (secret) {
    return createOperatorAuth(secret, {
      tokenMaxAgeS: config.OPERATOR_TOKEN_MAX_AGE_S,
      store: credentialStore(pool),
    });
  }
  log.warn('OPERATOR_JWT_SECRET is not set: IncidentService refuses every call (UNAUTHENTICATED)');
  return undefined;
}

const WRITES = new Set(['CreateIncident', 'UpdateIncident', 'ResolveIncident']);

/** The operator behind the call's bearer token, if their role may call `method`. */
async function authorize(
  operatorAuth: OperatorAuth | undefined,
  method: string,
  metadata: Metadata,
): Promise<Operator> {
  if (!operatorAuth) throw new CallError(status.UNAUTHENTICATED, NO_SECRET_MESSAGE);
  let operator: Operator;
  try {
    operator = await operatorAuth.verify(bearerToken(metadata));
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
}

/** The tripwire.v1.IncidentService handlers: operators read, change and watch incidents. */
export function createIncidentService(
  deps: IncidentServiceDeps,
): IncidentServiceServer & UntypedServiceImplementation {
  const { pool, metrics, log } = deps;

  const count = (method: string, code: status) =>
    metrics.incidentRequests.inc({ method, code: status[code] });

  const { refusal, unary } = operatorCalls({
    authorize: (method, metadata) => authorize(deps.operatorAuth, method, metadata),
    toCallError,
    count,
    guard: deps.guard,
    log,
    service: 'incident',
  });

  const answer = (incident: Incident) => ({ incident: toWireIncident(toIncidentJson(incident)) });
  const announced = (incident: Incident, opened: boolean) => {
    deps.announcer.announce(incident, opened);
    return answer(incident);
  };

  return {
    createIncident: unary('CreateIncident', async (req, operator) =>
      announced(await openIncident(pool, req, operator), true),
    ),
    getIncident: unary('GetIncident', async (req) => answer(await findIncident(pool, req))),
    listIncidents: unary('ListIncidents', (req) => listIncidentsPage(pool, req)),
    listIncidentAlerts: unary('ListIncidentAlerts', (req) => listIncidentAlertsPage(pool, req)),
    updateIncident: unary('UpdateIncident', async (req, operator) =>
      announced(await changeIncident(pool, req, operator), false),
    ),
    resolveIncident: unary('ResolveIncident', async (req, operator) =>
      announced(await closeIncident(pool, req, operator), false),
    ),

    streamIncidents(call) {
      const method = 'StreamIncidents';
      const refuseIfDraining = () => {
        if (!deps.isDraining()) return;
        throw new CallError(
          status.UNAVAILABLE,
          'this ingest instance is shutting down; connect to another',
        );
      };
      (async () => {
        refuseIfDraining();
        await authorize(deps.operatorAuth, method, call.metadata);
        // Shutdown began meanwhile: it ended the watches it saw, so this one would stay open.
        refuseIfDraining();
        if (call.request instanceof MalformedMessage) throw new BadField(call.request.describe());
        const filter = incidentFilter(call.request);
        const watched = await deps.streams.watch(call, filter);
        count(method, watched ? status.OK : status.CANCELLED);
      })().catch((err) => call.emit('error', refusal(method, err)));
    },
  };
}
