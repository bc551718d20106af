import type { Queryable } from './pool.js';

export type EnrollmentRequestState = 'pending' | 'approved' | 'denied';

/** A registration of an existing hostname without proof of being that host, waiting for an admin. */
export interface EnrollmentRequest {
  requestId: string;
  hostId: string;
  hostname: string;
  platform: string;
  agentVersion: string;
  peer: string;
  /** The managed enrollment token presented; null: the bootstrap ENROLLMENT_TOKEN. */
  enrollmentTokenId: string | null;
  state: EnrollmentRequestState;
  attempts: number;
  requestedAt: Date;
  lastAttemptAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
}

export interface NewEnrollmentRequest {
  hostId: string;
  hostname: string;
  platform: string;
  agentVersion: string;
  /** SHA-256 of the requester's random key (x-tripwire-enrollment-key). */
  requesterKeyHash: Buffer;
  peer: string;
  enrollmentTokenId: string | null;
  /** How long it may wait unanswered. */
  ttlS: number;
  /** Open requests per host; a new requester past it is refused. */
  maxPerHost: number;
}

interface RequestRow {
  request_id: string;
  host_id: string;
  hostname: string;
  platform: string;
  agent_version: string;
  peer: string;
  enrollment_token_id: string | null;
  state: EnrollmentRequestState;
  attempts: number;
  requested_at: Date;
  last_attempt_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
}

const REQUEST_COLUMNS =
  'request_id, host_id, hostname, platform, agent_version, peer, enrollment_token_id, state, attempts, requested_at, last_attempt_at, expires_at, decided_at, decided_by';

const toRequest = (r: RequestRow): EnrollmentRequest => ({
  requestId: r.request_id,
  hostId: r.host_id,
  hostname: r.hostname,
  platform: r.platform,
  agentVersion: r.agent_version,
  peer: r.peer,
  enrollmentTokenId: r.enrollment_token_id,
  state: r.state,
  attempts: r.attempts,
  requestedAt: r.requested_at,
  lastAttemptAt: r.last_attempt_at,
  expiresAt: r.expires_at,
  decidedAt: r.decided_at,
  decidedBy: r.decided_by,
});

/** The requester's request for this host (locked until the transaction ends), lapsed ones aside. */
export async function findEnrollmentRequest(
  db: Queryable,
  hostId: string,
  requesterKeyHash: Buffer,
): Promise<EnrollmentRequest | null> {
  const { rows } = await db.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM enrollment_requests
     WHERE host_id = $1 AND requester_key_hash = $2 AND expires_at > now() FOR UPDATE`,
    [hostId, requesterKeyHash],
  );
  return rows[0] ? toRequest(rows[0]) : null;
}

/**
 * Records an attempt: the requester's open request gets one more attempt, or a new pending
 * request is made, unless the host already has `maxPerHost` open ones (then null). Lapsed
 * requests of the host are removed first, so the table holds at most that many per host.
 */
export async function recordEnrollmentRequest(
  db: Queryable,
  input: NewEnrollmentRequest,
): Promise<EnrollmentRequest | null> {
  await db.query('DELETE FROM enrollment_requests WHERE host_id = $1 AND expires_at <= now()', [
    input.hostId,
  ]);
  const { rows: open } = await db.query<{ mine: boolean; n: number }>(
    `SELECT bool_or(requester_key_hash = $2) AS mine, count(*)::int AS n
     FROM enrollment_requests WHERE host_id = $1`,
    [input.hostId, input.requesterKeyHash],
  );
  if (!open[0]?.mine && (open[0]?.n ?? 0) >= input.maxPerHost) return null;
  const { rows } = await db.query<RequestRow>(
    `INSERT INTO enrollment_requests (request_id, host_id, hostname, platform, agent_version,
       requester_key_hash, peer, enrollment_token_id, expires_at)
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7,
       now() + make_interval(secs => $8::double precision))
     ON CONFLICT (host_id, requester_key_hash) DO UPDATE SET
       attempts = enrollment_requests.attempts + 1, last_attempt_at = now(), peer = EXCLUDED.peer,
       platform = EXCLUDED.platform, agent_version = EXCLUDED.agent_version
     RETURNING ${REQUEST_COLUMNS}`,
    [
      input.hostId,
      input.hostname,
      input.platform,
      input.agentVersion,
      input.requesterKeyHash,
      input.peer,
      input.enrollmentTokenId,
      input.ttlS,
    ],
  );
  return toRequest(rows[0]!);
}

/** Open requests (pending, or approved and not yet used), oldest first. */
export async function listOpenEnrollmentRequests(
  db: Queryable,
  limit = 1000,
): Promise<EnrollmentRequest[]> {
  const { rows } = await db.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM enrollment_requests
     WHERE state IN ('pending', 'approved') AND expires_at > now()
     ORDER BY requested_at, request_id LIMIT $1`,
    [limit],
  );
  return rows.map(toRequest);
}

export type EnrollmentDecision = 'approved' | 'denied';

/**
 * An admin's answer to a pending request. An approval must be used within `ttlS`; a denial is
 * kept as long, so the requester's retries stay refused. Returns the request as it now is and
 * whether this call changed it (only a pending, unlapsed request can be decided); null if none.
 */
export async function decideEnrollmentRequest(
  db: Queryable,
  requestId: string,
  decision: EnrollmentDecision,
  decidedBy: string,
  ttlS: number,
): Promise<{ request: EnrollmentRequest; changed: boolean } | null> {
  const { rows } = await db.query<RequestRow>(
    `UPDATE enrollment_requests SET state = $2, decided_at = now(), decided_by = $3,
       expires_at = now() + make_interval(secs => $4::double precision)
     WHERE request_id = $1 AND state = 'pending' AND expires_at > now()
     RETURNING ${REQUEST_COLUMNS}`,
    [requestId, decision, decidedBy, ttlS],
  );
  if (rows[0]) return { request: toRequest(rows[0]), changed: true };
  const { rows: existing } = await db.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM enrollment_requests WHERE request_id = $1`,
    [requestId],
  );
  return existing[0] ? { request: toRequest(existing[0]), changed: false } : null;
}

/** An approval was used: the request is gone (the audit chain records it). */
export async function deleteEnrollmentRequest(db: Queryable, requestId: string): Promise<void> {
  await db.query('DELETE FROM enrollment_requests WHERE request_id = $1', [requestId]);
}
