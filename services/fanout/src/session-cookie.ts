import {
  appendAuditEntry,
  createOperatorSession,
  endOperatorSession,
  type Pool,
  withTransaction,
} from '@tripwire/storage';
import { auditActor, type Operator, SESSION_COOKIE, sessionCookie } from './operator-auth.js';

/** SESSION_MAX_AGE_S's default: a dashboard sign-in lasts a working day. */
export const DEFAULT_SESSION_MAX_AGE_S = 12 * 3600;

export interface SessionDeps {
  pool: Pool;
  cookieSecure: boolean;
  /** SESSION_MAX_AGE_S, or less (a session never outlives the token it was made from). */
  maxAgeS?: number;
  /** Recorded in the audit entry: where the sign-in came from. */
  address?: string;
  /** Recorded in the audit entry: how the operator proved who they are (e.g. `oidc` and its issuer). */
  via?: Record<string, string>;
}

const attributes = (maxAgeS: number, secure: boolean) =>
  `HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;

/**
 * Signs `operator` in: a server-side session (operator_sessions; only the id's hash is kept) and
 * the Set-Cookie header that hands its random id to the browser. The cookie never holds a
 * token, so sign-out, expiry and an admin's revoke-all end it on every instance. Audited
 * (`session.create`) in the same transaction: callers (token sign-in, single sign-on) need not.
 */
export async function startSession(
  deps: SessionDeps,
  operator: Operator,
): Promise<{ headers: Record<string, string> }> {
  const maxAgeS = Math.max(1, Math.floor(deps.maxAgeS ?? DEFAULT_SESSION_MAX_AGE_S));
  const session = await withTransaction(deps.pool, async (db) => {
    const created = await createOperatorSession(db, operator, maxAgeS);
    await appendAuditEntry(db, {
      actor: auditActor(operator),
      action: 'session.create',
      details: {
        role: operator.role,
        expires_at: created.expiresAt.toISOString(),
        ...(deps.address ? { address: deps.address } : {}),
        ...deps.via,
      },
    });
    return created;
  });
  const value = `${SESSION_COOKIE}=${session.id}; ${attributes(maxAgeS, deps.cookieSecure)}`;
  return { headers: { 'set-cookie': value } };
}

/**
 * Signs out: revokes the session the `Cookie` header names (audited `session.end` when it was
 * live) and returns the header that clears the cookie, whether or not there was a session.
 */
export async function endSession(
  deps: SessionDeps,
  cookieHeader: string,
): Promise<{ headers: Record<string, string>; operator: Operator | null }> {
  const id = sessionCookie(cookieHeader);
  const operator = id
    ? await withTransaction(deps.pool, async (db) => {
        const owner = await endOperatorSession(db, id);
        if (owner) await appendAuditEntry(db, { actor: auditActor(owner), action: 'session.end' });
        return owner;
      })
    : null;
  return {
    headers: { 'set-cookie': `${SESSION_COOKIE}=; ${attributes(0, deps.cookieSecure)}` },
    operator,
  };
}
