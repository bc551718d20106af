import { timingSafeEqual } from 'node:crypto';
import { type ServerUnaryCall, status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { RegisterAgentRequest } from '@tripwire/proto';
import {
  appendAuditEntry,
  consumeEnrollmentTokenUse,
  deleteEnrollmentRequest,
  type EnrollmentRequest,
  findEnrollmentRequest,
  type Host,
  insertNewHost,
  lockHostByHostname,
  type NewAlert,
  type Pool,
  type Queryable,
  recordEnrollmentRequest,
  replaceAgentToken,
  withTransaction,
} from '@tripwire/storage';
import { CallError, hashToken, issueAgentToken } from './agent-auth.js';
import type { AlertIntake } from './alert-intake.js';
import {
  type ClientCertificate,
  certificateNamesHost,
  clientCertificate,
} from './client-certificate.js';
import {
  AGENT_TOKEN_METADATA,
  ENROLLMENT_KEY_METADATA,
  type EnrollmentCredential,
  refuseEnrollmentToken,
} from './enrollment-credential.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { reEnrollmentAlert } from './re-enrollment-alert.js';

export interface EnrollmentSettings {
  /** ENROLLMENT_PENDING_TTL_S */
  pendingTtlS: number;
  /** ENROLLMENT_MAX_PENDING_PER_HOST */
  maxPendingPerHost: number;
  /** GRPC_TLS_CLIENT_CA_FILE is set: client certificates are verified, their names trusted. */
  trustClientCertificates: boolean;
}

export interface EnrollmentDeps {
  pool: Pool;
  intake: AlertIntake;
  metrics: IngestMetrics;
  log: Logger;
  enrollment: EnrollmentSettings;
}

type Method = 'new' | 'rotated' | 'certificate' | 'approval';

/** What one pass over the host row decided. */
type Decision =
  | { kind: 'enrolled'; host: Host; method: Method }
  | { kind: 'needs_alert'; host: Host; alert: NewAlert }
  | { kind: 'pending'; hostname: string; request: EnrollmentRequest | null }
  | { kind: 'too_many'; hostname: string };

interface Attempt {
  hostname: string;
  platform: string;
  agentVersion: string;
  peer: string;
  certificate: ClientCertificate | null;
  credential: EnrollmentCredential;
  tokenHash: Buffer;
}

const sameHash = (a: Buffer | null, b: Buffer) =>
  a !== null && a.length === b.length && timingSafeEqual(a, b);

const agentTokenRefused = (hostname: string) =>
  new CallError(
    status.UNAUTHENTICATED,
    `agent token is not the current token of "${hostname}": register with an enrollment token`,
    'bad_agent_token',
  );

/** Counts a use of the managed token (atomically, in the enrolling transaction). */
async function useToken(db: Queryable, pool: Pool, a: Attempt): Promise<void> {
  const token = a.credential.managedToken;
  if (!token || (await consumeEnrollmentTokenUse(db, token.tokenId, a.hostname))) return;
  await refuseEnrollmentToken(pool, token, 'no_longer_usable', a);
}

const credentialDetails = (a: Attempt) => ({
  peer: a.peer,
  platform: a.platform,
  agent_version: a.agentVersion,
  credential: a.credential.kind,
  ...(a.credential.managedToken
    ? {
        enrollment_token_id: a.credential.managedToken.tokenId,
        enrollment_token_name: a.credential.managedToken.name,
      }
    : {}),
});

/** The proof of being the existing host, other than its agent token: a certificate or an approval. */
async function reEnrollmentProof(db: Queryable, a: Attempt, host: Host) {
  if (a.certificate && certificateNamesHost(a.certificate, a.hostname))
    return { method: 'certificate' as const, request: null };
  const keyHash = a.credential.requesterKeyHash;
  const request = keyHash ? await findEnrollmentRequest(db, host.hostId, keyHash) : null;
  return { method: request?.state === 'approved' ? ('approval' as const) : null, request };
}

/** No proof: the attempt waits for an admin (a pending request), audited the first time. */
async function holdForApproval(
  db: Queryable,
  deps: EnrollmentDeps,
  a: Attempt,
  host: Host,
  request: EnrollmentRequest | null,
): Promise<Decision> {
  const keyHash = a.credential.requesterKeyHash;
  if (request?.state === 'denied' || !keyHash) {
    if (!keyHash)
      await appendAuditEntry(db, {
        actor: `agent:${a.hostname}`,
        action: 'host.register_refused',
        hostId: host.hostId,
        target: a.hostname,
        details: {
          ...credentialDetails(a),
          reason: 'hostname exists; no proof and no enrollment key',
        },
      });
    return { kind: 'pending', hostname: a.hostname, request };
  }
  const recorded = await recordEnrollmentRequest(db, {
    hostId: host.hostId,
    hostname: a.hostname,
    platform: a.platform,
    agentVersion: a.agentVersion,
    requesterKeyHash: keyHash,
    peer: a.peer,
    enrollmentTokenId: a.credential.managedToken?.tokenId ?? null,
    ttlS: deps.enrollment.pendingTtlS,
    maxPerHost: deps.enrollment.maxPendingPerHost,
  });
  if (!recorded) return { kind: 'too_many', hostname: a.hostname };
  if (recorded.attempts === 1)
    await appendAuditEntry(db, {
      actor: `agent:${a.hostname}`,
      action: 'host.enrollment_pending',
      hostId: host.hostId,
      target: recorded.requestId,
      details: { ...credentialDetails(a), hostname: a.hostname },
    });
  return { kind: 'pending', hostname: a.hostname, request: recorded };
}

/**
 * One pass, in a transaction holding the host row: a new hostname is enrolled; an existing one
 * only with its current agent token (rotation), a client certificate naming it, or an admin's
 * approval of this requester. A certificate or approval first needs its alert stored
 * (`alertStored`): the pass then returns `needs_alert` and changes nothing.
 */
async function decide(
  db: Queryable,
  deps: EnrollmentDeps,
  a: Attempt,
  alertStored: boolean,
): Promise<Decision> {
  const reg = { ...a, agentTokenHash: a.tokenHash };
  const audit = (host: Host, action: string, extra: Record<string, unknown> = {}) =>
    appendAuditEntry(db, {
      actor: `agent:${host.hostname}`,
      action,
      hostId: host.hostId,
      target: host.hostname,
      details: { ...credentialDetails(a), ...extra },
    });
  if (a.credential.kind !== 'agent_token') {
    const created = await insertNewHost(db, reg);
    if (created) {
      await useToken(db, deps.pool, a);
      await audit(created, 'host.register');
      return { kind: 'enrolled', host: created, method: 'new' };
    }
  }
  const existing = await lockHostByHostname(db, a.hostname);
  if (!existing) {
    if (a.credential.kind === 'agent_token') throw agentTokenRefused(a.hostname);
    throw new CallError(status.UNAVAILABLE, 'the host changed while registering; retry', 'raced');
  }
  const { host, agentTokenHash } = existing;
  const offered = a.credential.agentToken;
  if (offered && sameHash(agentTokenHash, hashToken(offered))) {
    await useToken(db, deps.pool, a);
    const rotated = await replaceAgentToken(db, host.hostId, reg);
    await audit(rotated, 'host.rotate_token');
    return { kind: 'enrolled', host: rotated, method: 'rotated' };
  }
  if (a.credential.kind === 'agent_token') throw agentTokenRefused(a.hostname);
  const proof = await reEnrollmentProof(db, a, host);
  if (!proof.method) return holdForApproval(db, deps, a, host, proof.request);
  const alert = reEnrollmentAlert({
    host,
    method: proof.method,
    peer: a.peer,
    requestId: proof.request?.requestId,
    approvedBy: proof.request?.decidedBy,
    certificate: proof.method === 'certificate' ? (a.certificate ?? undefined) : undefined,
    replacedTokenHash: agentTokenHash,
  });
  if (!alertStored) return { kind: 'needs_alert', host, alert };
  await useToken(db, deps.pool, a);
  const reEnrolled = await replaceAgentToken(db, host.hostId, reg);
  if (proof.request) await deleteEnrollmentRequest(db, proof.request.requestId);
  await audit(reEnrolled, 'host.re_enroll', {
    method: proof.method,
    alert_id: alert.alertId,
    ...(proof.request
      ? { enrollment_request_id: proof.request.requestId, approved_by: proof.request.decidedBy }
      : { certificate_subject: a.certificate?.subject }),
  });
  return { kind: 'enrolled', host: reEnrolled, method: proof.method };
}

/** The refusal of a registration that is not allowed (yet): how to re-enroll. */
function refusal(d: Extract<Decision, { kind: 'pending' | 'too_many' }>, maxPending: number) {
  const h = d.hostname;
  const ways = `present the host's current agent token (${AGENT_TOKEN_METADATA} metadata, or as the bearer), connect with a client certificate naming "${h}" (mTLS)`;
  if (d.kind === 'too_many')
    return new CallError(
      status.RESOURCE_EXHAUSTED,
      `"${h}" already has ENROLLMENT_MAX_PENDING_PER_HOST=${maxPending} registrations waiting for an admin; ask an admin to deny the unknown ones, or ${ways}`,
      'pending_enrollments',
    );
  const r = d.request;
  const message = !r
    ? `hostname "${h}" is already enrolled. To re-enroll: ${ways}, or send a random ${ENROLLMENT_KEY_METADATA} so an admin can approve this registration (the tripwire agent does)`
    : r.state === 'denied'
      ? `hostname "${h}" is already enrolled and enrollment ${r.requestId} was denied by ${r.decidedBy}. To re-enroll: ${ways}`
      : `hostname "${h}" is already enrolled. To re-enroll: ${ways}, or ask an admin to approve pending enrollment ${r.requestId} (dashboard: Enrollment; or POST /api/enrollments/${r.requestId}/approve), then retry with the same ${ENROLLMENT_KEY_METADATA}`;
  return new CallError(status.ALREADY_EXISTS, message, 'already_enrolled');
}

/** Stores the re-enrollment alert (through the batcher and the bus) before the token changes. */
async function storeAlert(deps: EnrollmentDeps, host: Host, alert: NewAlert): Promise<void> {
  if (deps.intake.saturated) {
    throw new CallError(
      status.RESOURCE_EXHAUSTED,
      'ingest is behind on storage; retry with backoff',
      'overloaded',
    );
  }
  try {
    await deps.intake.commit(host, [alert]);
  } catch (err) {
    deps.metrics.reEnrollmentAlertFailures.inc();
    deps.log.error({ err, hostId: host.hostId }, 'cannot store the re-enrollment alert');
    throw new CallError(
      status.UNAVAILABLE,
      'cannot record the re-enrollment; retry with backoff',
      'database_unavailable',
    );
  }
}

/**
 * Enrolls the caller (already authenticated by its credential, request validated) and returns
 * the host and its fresh agent token, or refuses with how to re-enroll. See docs/security.md,
 * "Agent enrollment and re-registration".
 */
export async function enrollAgent(
  deps: EnrollmentDeps,
  call: ServerUnaryCall<RegisterAgentRequest, unknown>,
  credential: EnrollmentCredential,
): Promise<{ host: Host; agentToken: string }> {
  const agentToken = issueAgentToken();
  const attempt: Attempt = {
    hostname: call.request.hostname.trim(),
    platform: call.request.platform,
    agentVersion: call.request.agentVersion,
    peer: call.getPeer(),
    certificate: deps.enrollment.trustClientCertificates ? clientCertificate(call) : null,
    credential,
    tokenHash: hashToken(agentToken),
  };
  let decision = await withTransaction(deps.pool, (db) => decide(db, deps, attempt, false));
  if (decision.kind === 'needs_alert') {
    await storeAlert(deps, decision.host, decision.alert);
    decision = await withTransaction(deps.pool, (db) => decide(db, deps, attempt, true));
  }
  if (decision.kind === 'needs_alert') throw new Error('a stored alert was asked for again');
  if (decision.kind !== 'enrolled') {
    deps.metrics.enrollments.inc({ outcome: 'pending' });
    if (decision.kind === 'too_many') deps.metrics.limitsHit.inc({ limit: 'pending_enrollments' });
    throw refusal(decision, deps.enrollment.maxPendingPerHost);
  }
  deps.metrics.enrollments.inc({ outcome: decision.method });
  return { host: decision.host, agentToken };
}
