import { createHash, randomBytes } from 'node:crypto';
import { type Metadata, status } from '@grpc/grpc-js';
import { findHostByTokenHash, type Host, type Queryable } from '@tripwire/storage';

/** A call that must end with this gRPC status. The message is safe to show the caller. */
export class CallError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Metric label for why (low cardinality). */
    readonly reason = status[code].toLowerCase(),
  ) {
    super(message);
  }
}

export const AGENT_TOKEN_PREFIX = 'twa_';

/** A fresh agent token: 256 random bits. Only its SHA-256 is ever stored. */
export function issueAgentToken(): string {
  return AGENT_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The token from `authorization: Bearer <token>`, or a CallError saying what is wrong. */
export function bearerToken(metadata: Metadata): string {
  const [value] = metadata.get('authorization');
  if (value === undefined) {
    throw new CallError(
      status.UNAUTHENTICATED,
      'missing "authorization: Bearer <token>" metadata',
      'missing_token',
    );
  }
  const match = /^Bearer\s+(\S+)$/i.exec(String(value).trim());
  if (!match) {
    throw new CallError(
      status.UNAUTHENTICATED,
      'authorization metadata must be "Bearer <token>"',
      'malformed_token',
    );
  }
  return match[1]!;
}

/** The host an agent token belongs to. */
export async function authenticateAgent(db: Queryable, metadata: Metadata): Promise<Host> {
  const token = bearerToken(metadata);
  let host: Host | null;
  try {
    host = token.startsWith(AGENT_TOKEN_PREFIX)
      ? await findHostByTokenHash(db, hashToken(token))
      : null;
  } catch {
    throw new CallError(
      status.UNAVAILABLE,
      'cannot check the agent token: the database is unavailable; retry with backoff',
      'database_unavailable',
    );
  }
  if (!host) {
    throw new CallError(
      status.UNAUTHENTICATED,
      'agent token is not valid (revoked by a newer RegisterAgent, or never issued): register again',
      'bad_agent_token',
    );
  }
  return host;
}
