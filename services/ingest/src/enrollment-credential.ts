import { timingSafeEqual } from 'node:crypto';
import { type Metadata, type ServerUnaryCall, status } from '@grpc/grpc-js';
import type { RegisterAgentRequest } from '@tripwire/proto';
import {
  appendAuditEntry,
  type EnrollmentToken,
  enrollmentTokenStatus,
  findEnrollmentToken,
  type Queryable,
} from '@tripwire/storage';
import { AGENT_TOKEN_PREFIX, bearerToken, CallError, hashToken } from './agent-auth.js';

/** Metadata an agent with stored credentials sends beside the enrollment token: its agent token. */
export const AGENT_TOKEN_METADATA = 'x-tripwire-agent-token';
/** A random key the agent keeps; an admin's approval of a re-enrollment is for this key only. */
export const ENROLLMENT_KEY_METADATA = 'x-tripwire-enrollment-key';

const ENROLLMENT_KEY = /^[\x21-\x7e]{16,256}$/;

/** What a RegisterAgent caller presented. */
export interface EnrollmentCredential {
  /**
   * `bootstrap`: ENROLLMENT_TOKEN; `managed`: a token an admin created; `agent_token`: the
   * host's own agent token as the bearer (rotation without an enrollment token).
   */
  kind: 'bootstrap' | 'managed' | 'agent_token';
  managedToken: EnrollmentToken | null;
  /** An agent token offered as proof of being the existing host (bearer or metadata). */
  agentToken: string | null;
  /** SHA-256 of x-tripwire-enrollment-key, when sent. */
  requesterKeyHash: Buffer | null;
}

const REFUSED_TOKEN: Record<string, string> = {
  revoked: 'this enrollment token was revoked; ask an admin for a new one',
  expired: 'this enrollment token has expired; ask an admin for a new one',
  used_up: 'this enrollment token has no uses left; ask an admin for a new one',
  hostname: 'this enrollment token is not for this hostname (its hostname pattern does not match)',
  no_longer_usable:
    'this enrollment token was used up, revoked or expired while registering; ask an admin for a new one',
};

/** A managed token that matched but cannot be used: refused, and the use audited. */
export async function refuseEnrollmentToken(
  db: Queryable,
  token: EnrollmentToken,
  reason: keyof typeof REFUSED_TOKEN,
  context: { peer: string; hostname: string },
): Promise<never> {
  await appendAuditEntry(db, {
    actor: `agent:${context.hostname}`,
    action: 'enrollment_token.refused',
    target: token.tokenId,
    details: { token_name: token.name, reason, peer: context.peer, hostname: context.hostname },
  }).catch(() => {});
  throw new CallError(status.UNAUTHENTICATED, REFUSED_TOKEN[reason]!, 'bad_enrollment_token');
}

function optionalMetadata(metadata: Metadata, key: string): string | null {
  const [value] = metadata.get(key);
  return value === undefined ? null : String(value).trim();
}

function requesterKeyHash(metadata: Metadata): Buffer | null {
  const key = optionalMetadata(metadata, ENROLLMENT_KEY_METADATA);
  if (key === null) return null;
  if (!ENROLLMENT_KEY.test(key)) {
    throw new CallError(
      status.INVALID_ARGUMENT,
      `${ENROLLMENT_KEY_METADATA} must be 16 to 256 printable characters without spaces (a random value the agent keeps)`,
      'invalid_registration',
    );
  }
  return hashToken(key);
}

/**
 * The caller's credential: the bootstrap ENROLLMENT_TOKEN (compared in constant time), a managed
 * enrollment token (by its hash; revoked, expired or used-up ones refused and audited), or an
 * agent token (checked against the hostname when enrolling). Anything else: UNAUTHENTICATED.
 */
export async function authenticateEnrollment(
  db: Queryable,
  call: ServerUnaryCall<RegisterAgentRequest, unknown>,
  bootstrapToken: string,
): Promise<EnrollmentCredential> {
  const { metadata } = call;
  // Before validation: a malformed request has no hostname (a pattern then never matches).
  const hostname = typeof call.request?.hostname === 'string' ? call.request.hostname.trim() : '';
  const context = { peer: call.getPeer(), hostname };
  const bearer = bearerToken(metadata);
  const keyHash = requesterKeyHash(metadata);
  const extraAgentToken = optionalMetadata(metadata, AGENT_TOKEN_METADATA);
  const given = hashToken(bearer);
  if (timingSafeEqual(given, hashToken(bootstrapToken))) {
    return {
      kind: 'bootstrap',
      managedToken: null,
      agentToken: extraAgentToken,
      requesterKeyHash: keyHash,
    };
  }
  if (bearer.startsWith(AGENT_TOKEN_PREFIX)) {
    return {
      kind: 'agent_token',
      managedToken: null,
      agentToken: bearer,
      requesterKeyHash: keyHash,
    };
  }
  let found: Awaited<ReturnType<typeof findEnrollmentToken>>;
  try {
    found = await findEnrollmentToken(db, given, context.hostname);
  } catch {
    throw new CallError(
      status.UNAVAILABLE,
      'cannot check the enrollment token: the database is unavailable; retry with backoff',
      'database_unavailable',
    );
  }
  if (!found) {
    throw new CallError(
      status.UNAUTHENTICATED,
      'enrollment token is not valid',
      'bad_enrollment_token',
    );
  }
  const tokenStatus = enrollmentTokenStatus(found.token);
  if (tokenStatus !== 'active') await refuseEnrollmentToken(db, found.token, tokenStatus, context);
  if (!found.hostnameMatches) await refuseEnrollmentToken(db, found.token, 'hostname', context);
  return {
    kind: 'managed',
    managedToken: found.token,
    agentToken: extraAgentToken,
    requesterKeyHash: keyHash,
  };
}
