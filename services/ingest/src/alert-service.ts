import {
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import {
  type AgentEvent,
  type AgentEventBatch,
  type AlertServiceServer,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
  RejectCode,
  type ServerCommand,
  type SubmitAlertResponse,
} from '@tripwire/proto';
import { appendAuditEntry, type Pool, upsertHost, withTransaction } from '@tripwire/storage';
import {
  authenticateAgent,
  CallError,
  checkEnrollmentToken,
  hashToken,
  issueAgentToken,
} from './agent-auth.js';
import { AgentStream, type AgentStreamDeps, type StreamMethod } from './agent-stream.js';
import { rejectReason, validateAgentEvent } from './alert-validation.js';
import { MalformedMessage } from './malformed-message.js';

export interface AlertServiceDeps extends AgentStreamDeps {
  pool: Pool;
  enrollmentToken: string;
  log: Logger;
  /** Open streams, so shutdown can drain them. */
  streams: Set<AgentStream>;
  isDraining: () => boolean;
}

const toServiceError = (err: CallError): Partial<ServiceError> => ({
  code: err.code,
  details: err.message,
});

function checkRegistration(req: RegisterAgentRequest): void {
  const invalid = (message: string) =>
    new CallError(status.INVALID_ARGUMENT, message, 'invalid_registration');
  const hostname = req.hostname.trim();
  if (!hostname) throw invalid('hostname is required');
  if (hostname.length > 253 || /[\p{Cc}\s]/u.test(hostname)) {
    throw invalid('hostname must be at most 253 characters, without spaces or control characters');
  }
  if (
    req.platform.length > 64 ||
    req.agentVersion.length > 64 ||
    /\p{Cc}/u.test(req.platform + req.agentVersion)
  ) {
    throw invalid(
      'platform and agent_version must be at most 64 characters, without control characters',
    );
  }
}

function rejectMalformed(request: unknown): void {
  if (request instanceof MalformedMessage) {
    throw new CallError(status.INVALID_ARGUMENT, request.describe(), 'malformed_message');
  }
}

/** RegisterAgent: enrolls (or re-enrolls) a host and issues its agent token, audited. */
async function registerAgent(
  deps: AlertServiceDeps,
  call: ServerUnaryCall<RegisterAgentRequest, RegisterAgentResponse>,
): Promise<RegisterAgentResponse> {
  checkEnrollmentToken(call.metadata, deps.enrollmentToken);
  rejectMalformed(call.request);
  checkRegistration(call.request);
  const agentToken = issueAgentToken();
  const host = await withTransaction(deps.pool, async (db) => {
    const h = await upsertHost(db, {
      hostname: call.request.hostname.trim(),
      platform: call.request.platform,
      agentVersion: call.request.agentVersion,
      agentTokenHash: hashToken(agentToken),
    });
    await appendAuditEntry(db, {
      actor: `agent:${h.hostname}`,
      action: 'host.register',
      hostId: h.hostId,
      target: h.hostname,
      details: { platform: h.platform, agent_version: h.agentVersion, peer: call.getPeer() },
    });
    return h;
  });
  deps.log.info({ hostId: host.hostId, hostname: host.hostname }, 'agent registered');
  return { hostId: host.hostId, agentToken, serverTimeUs: Date.now() * 1000 };
}

/** SubmitAlert: one alert, answered once it is stored (and published, see AlertIntake). */
async function submitAlert(
  deps: AlertServiceDeps,
  call: ServerUnaryCall<AgentEvent, SubmitAlertResponse>,
): Promise<SubmitAlertResponse> {
  const { metrics } = deps;
  if (deps.isDraining()) {
    throw new CallError(
      status.UNAVAILABLE,
      'this ingest instance is shutting down; retry',
      'shutdown',
    );
  }
  const host = await authenticateAgent(deps.pool, call.metadata);
  rejectMalformed(call.request);
  metrics.alertsReceived.inc({ method: 'SubmitAlert' });
  const v = validateAgentEvent(call.request, host, deps.limits);
  if (!v.ok) {
    metrics.alertsRejected.inc({ reason: rejectReason(v.code) });
    throw new CallError(
      v.code === RejectCode.REJECT_CODE_HOST_MISMATCH
        ? status.PERMISSION_DENIED
        : status.INVALID_ARGUMENT,
      `${v.reason} (${RejectCode[v.code]})`,
      'invalid_alert',
    );
  }
  if (deps.intake.saturated) {
    throw new CallError(
      status.RESOURCE_EXHAUSTED,
      'ingest is behind on storage; retry with backoff',
      'overloaded',
    );
  }
  const result = await deps.intake.commit(host, [v.alert]);
  return { alertId: v.alert.alertId, duplicate: result.duplicates.length > 0 };
}

/** The tripwire.v1.AlertService handlers. */
export function createAlertService(
  deps: AlertServiceDeps,
): AlertServiceServer & UntypedServiceImplementation {
  const { metrics, log } = deps;

  const refuse = (method: string, err: unknown): Partial<ServiceError> => {
    const callError =
      err instanceof CallError
        ? err
        : new CallError(
            status.UNAVAILABLE,
            'the database is unavailable; retry with backoff',
            'database_unavailable',
          );
    if (!(err instanceof CallError)) log.error({ err, method }, 'call failed');
    metrics.callsRefused.inc({ method, reason: callError.reason });
    return toServiceError(callError);
  };

  /** Answers a unary call with `handle`'s result, or its failure as a status. */
  const unary =
    <Req, Res>(
      method: string,
      handle: (deps: AlertServiceDeps, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
    ): handleUnaryCall<Req, Res> =>
    (call, callback) => {
      handle(deps, call).then(
        (response) => callback(null, response),
        (err) => callback(refuse(method, err)),
      );
    };

  const openStream =
    (method: StreamMethod) =>
    (call: ServerDuplexStream<AgentEvent | AgentEventBatch, ServerCommand>) => {
      // Hold incoming alerts until the token is checked.
      call.pause();
      if (deps.isDraining()) {
        call.emit(
          'error',
          refuse(
            method,
            new CallError(
              status.UNAVAILABLE,
              'this ingest instance is shutting down; connect to another',
              'shutdown',
            ),
          ),
        );
        return;
      }
      authenticateAgent(deps.pool, call.metadata).then(
        (host) => {
          const stream = new AgentStream(
            call,
            host,
            method,
            deps,
            log.child({ hostId: host.hostId, hostname: host.hostname, method }),
          );
          deps.streams.add(stream);
          void stream.closedPromise.then(() => deps.streams.delete(stream));
          stream.start();
        },
        (err) => call.emit('error', refuse(method, err)),
      );
    };

  return {
    registerAgent: unary('RegisterAgent', registerAgent),
    streamAlerts: openStream('StreamAlerts'),
    streamAlertBatches: openStream('StreamAlertBatches'),
    submitAlert: unary('SubmitAlert', submitAlert),
  };
}
