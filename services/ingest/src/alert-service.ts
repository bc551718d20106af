import {
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { HangReport } from '@tripwire/probes';
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
import type { Host, Pool } from '@tripwire/storage';
import type { Span } from '@tripwire/tracing';
import { hasControlCharacters, MAX_AGENT_LABEL_LENGTH, MAX_HOSTNAME_LENGTH } from '@tripwire/wire';
import { authenticateAgent, CallError } from './agent-auth.js';
import { AgentStream, type AgentStreamDeps, type StreamMethod } from './agent-stream.js';
import { rejectReason, validateAgentEvent } from './alert-validation.js';
import { batchContext, endBatchSpan, recordValidation, startBatchSpan } from './batch-span.js';
import { hangRefusal } from './dependency-health.js';
import { type EnrollmentSettings, enrollAgent } from './enrollment.js';
import { authenticateEnrollment } from './enrollment-credential.js';
import { isProgrammingError } from './handler-guard.js';
import type { HostStreamSlots } from './host-stream-slots.js';
import { MalformedMessage } from './malformed-message.js';
import type { createRegisterRateLimit } from './register-rate-limit.js';

export interface AlertServiceDeps extends AgentStreamDeps {
  pool: Pool;
  /** ENROLLMENT_TOKEN: the bootstrap enrollment token (managed ones are in PostgreSQL). */
  enrollmentToken: string;
  enrollment: EnrollmentSettings;
  log: Logger;
  /** Open streams, so shutdown can drain them. */
  streams: Set<AgentStream>;
  /** Open alert streams per host, capped (MAX_STREAMS_PER_HOST). */
  streamSlots: HostStreamSlots;
  registerRateLimit: ReturnType<typeof createRegisterRateLimit>;
  isDraining: () => boolean;
  /** A dependency declared hung (dependency-health.ts): new agent calls are refused UNAVAILABLE. */
  hang: () => HangReport | undefined;
}

/** Refusal reasons that are a configured limit being hit (tripwire_ingest_limits_hit_total). */
const LIMIT_REASONS = new Set(['register_rate', 'streams_per_host']);

const toServiceError = (err: CallError): Partial<ServiceError> => ({
  code: err.code,
  details: err.message,
});

function checkRegistration(req: RegisterAgentRequest): void {
  const invalid = (message: string) =>
    new CallError(status.INVALID_ARGUMENT, message, 'invalid_registration');
  const hostname = req.hostname.trim();
  if (!hostname) throw invalid('hostname is required');
  if (hostname.length > MAX_HOSTNAME_LENGTH || /[\p{Cc}\s]/u.test(hostname)) {
    throw invalid(
      `hostname must be at most ${MAX_HOSTNAME_LENGTH} characters, without spaces or control characters`,
    );
  }
  if (
    req.platform.length > MAX_AGENT_LABEL_LENGTH ||
    req.agentVersion.length > MAX_AGENT_LABEL_LENGTH ||
    hasControlCharacters(req.platform + req.agentVersion) ||
    !(req.platform + req.agentVersion).isWellFormed()
  ) {
    throw invalid(
      `platform and agent_version must be at most ${MAX_AGENT_LABEL_LENGTH} characters, without control characters`,
    );
  }
}

function rejectMalformed(request: unknown): void {
  if (request instanceof MalformedMessage) {
    throw new CallError(status.INVALID_ARGUMENT, request.describe(), 'malformed_message');
  }
}

/** RegisterAgent: enrolls a host (an existing one only with proof: enrollment.ts) and issues its agent token, audited. */
async function registerAgent(
  deps: AlertServiceDeps,
  call: ServerUnaryCall<RegisterAgentRequest, RegisterAgentResponse>,
): Promise<RegisterAgentResponse> {
  let credential: Awaited<ReturnType<typeof authenticateEnrollment>>;
  try {
    credential = await authenticateEnrollment(deps.pool, call, deps.enrollmentToken);
  } catch (err) {
    // Only a failed token check counts against the address, and past the limit answers
    // RESOURCE_EXHAUSTED: agents behind one proxy address still enroll (register-rate-limit.ts).
    if (err instanceof CallError && err.code === status.UNAUTHENTICATED)
      await deps.registerRateLimit.failed(call.getPeer());
    throw err;
  }
  rejectMalformed(call.request);
  checkRegistration(call.request);
  const { host, agentToken } = await enrollAgent(deps, call, credential);
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
  const hang = deps.hang();
  if (hang) throw hangRefusal(hang);
  const host = await authenticateAgent(deps.pool, call.metadata);
  rejectMalformed(call.request);
  metrics.alertsReceived.inc({ method: 'SubmitAlert' });
  // A unary call carries its trace context in its metadata, as gRPC instrumentations send it.
  const span = startBatchSpan('SubmitAlert', 1, call.metadata.get('traceparent')[0]);
  try {
    return await storeOne(deps, call.request, host, span);
  } catch (err) {
    endBatchSpan(span, { accepted: 0, rejected: 0, error: (err as CallError).reason ?? 'failed' });
    throw err;
  }
}

/** SubmitAlert's alert validated, stored and published; `span` ends once it is. */
async function storeOne(
  deps: AlertServiceDeps,
  event: AgentEvent,
  host: Host,
  span: Span | undefined,
): Promise<SubmitAlertResponse> {
  const { metrics } = deps;
  const startedAt = performance.now();
  const v = validateAgentEvent(event, host, deps.limits);
  recordValidation(span, startedAt, { accepted: v.ok ? 1 : 0, rejected: v.ok ? 0 : 1 });
  if (v.ok && v.clipped) metrics.alertsClipped.inc();
  if (v.ok && v.skewed) metrics.clockSkewAlerts.inc();
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
  const result = await deps.intake.commit(host, [v.alert], batchContext(span));
  endBatchSpan(span, { accepted: 1, rejected: 0 });
  return { alertId: v.alert.alertId, duplicate: result.duplicates.length > 0 };
}

/** The tripwire.v1.AlertService handlers. */
export function createAlertService(
  deps: AlertServiceDeps,
): AlertServiceServer & UntypedServiceImplementation {
  const { metrics, log, guard } = deps;

  /** The status for a failure: its own for a CallError, INTERNAL for a bug, else the database is down. */
  const toCallError = (method: string, err: unknown): CallError => {
    if (err instanceof CallError) return err;
    if (isProgrammingError(err)) return guard.caught(method, err);
    log.error({ err, method }, 'call failed');
    return new CallError(
      status.UNAVAILABLE,
      'the database is unavailable; retry with backoff',
      'database_unavailable',
    );
  };

  const refuse = (method: string, err: unknown): Partial<ServiceError> => {
    const callError = toCallError(method, err);
    metrics.callsRefused.inc({ method, reason: callError.reason });
    if (LIMIT_REASONS.has(callError.reason)) metrics.limitsHit.inc({ limit: callError.reason });
    return toServiceError(callError);
  };

  /** Answers a unary call with `handle`'s result, or its failure as a status. */
  const unary =
    <Req, Res>(
      method: string,
      handle: (deps: AlertServiceDeps, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
    ): handleUnaryCall<Req, Res> =>
    (call, callback) => {
      // An async wrapper, so a synchronous throw becomes a rejection too.
      (async () => handle(deps, call))().then(
        (response) => callback(null, response),
        (err) => callback(refuse(method, err)),
      );
    };

  const openStream =
    (method: StreamMethod) =>
    (call: ServerDuplexStream<AgentEvent | AgentEventBatch, ServerCommand>) => {
      // Hold incoming alerts until the token is checked.
      call.pause();
      // Shutting down, or a dependency hung: the agent goes to another instance.
      const refuseIfUnavailable = () => {
        const hang = deps.hang();
        if (hang) throw hangRefusal(hang);
        if (!deps.isDraining()) return;
        throw new CallError(
          status.UNAVAILABLE,
          'this ingest instance is shutting down; connect to another',
          'shutdown',
        );
      };
      (async () => {
        refuseIfUnavailable();
        const host = await authenticateAgent(deps.pool, call.metadata);
        // Cancelled while the token was checked: grpc-js emitted 'cancelled' before AgentStream
        // listened, so nothing would ever give back a slot or a lease taken now. From here to
        // stream.start() attaching its listeners everything runs synchronously.
        if (call.cancelled) return;
        // Shutdown began meanwhile: it drains the streams it saw, so this one would be left open.
        refuseIfUnavailable();
        deps.streamSlots.take(host.hostId);
        const stream = new AgentStream(
          call,
          host,
          method,
          deps,
          log.child({ hostId: host.hostId, hostname: host.hostname, method }),
        );
        deps.streams.add(stream);
        void stream.closedPromise.then(() => {
          deps.streams.delete(stream);
          deps.streamSlots.release(host.hostId);
        });
        stream.start();
      })().catch((err) => call.emit('error', refuse(method, err)));
    };

  return {
    registerAgent: unary('RegisterAgent', registerAgent),
    streamAlerts: openStream('StreamAlerts'),
    streamAlertBatches: openStream('StreamAlertBatches'),
    submitAlert: unary('SubmitAlert', submitAlert),
  };
}
