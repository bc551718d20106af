import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './pool.js';

/** Session ids are 32 random bytes, base64url; this prefix makes a leaked one recognisable. */
export const SESSION_ID_PREFIX = 'tws_';

/** What is kept of a secret (a session id, an API token): its SHA-256, never the secret itself. */
export const secretHash = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** A new secret with a recognisable prefix. */
export const newSecret = (prefix: string) => prefix + randomBytes(32).toString('base64url');

export interface SessionOwner {
  name: string;
  role: 'viewer' | 'responder' | 'admin';
}

export interface LiveSession extends SessionOwner {
  /** The hash, hex: how an open WebSocket remembers its session without holding the secret. */
  ref: string;
  expiresAt: Date;
}

/** last_seen_at is written at most this often per session: a read per request, not a write. */
const LAST_SEEN_EVERY_S = 60;
/** Sessions past expiry are deleted this long after (sign-in does it, a bounded batch at a time). */
const EXPIRED_KEPT_DAYS = 7;

/** A new session for `owner`, ending after `maxAgeS`; returns the secret id (for the cookie). */
export async function createOperatorSession(
  db: Queryable,
  owner: SessionOwner,
  maxAgeS: number,
): Promise<{ id: string; expiresAt: Date }> {
  const id = newSecret(SESSION_ID_PREFIX);
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO operator_sessions (id_hash, operator_name, role, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
    [secretHash(id), owner.name, owner.role, maxAgeS],
  );
  await db.query(
    `DELETE FROM operator_sessions WHERE id_hash IN (
       SELECT id_hash FROM operator_sessions
       WHERE expires_at < now() - make_interval(days => $1) LIMIT 100)`,
    [EXPIRED_KEPT_DAYS],
  );
  return { id, expiresAt: rows[0]!.expires_at };
}

/** The session behind a cookie's id, if it is neither revoked nor expired. */
export async function findLiveSession(db: Queryable, id: string): Promise<LiveSession | null> {
  if (!id.startsWith(SESSION_ID_PREFIX)) return null;
  const hash = secretHash(id);
  const { rows } = await db.query<{
    operator_name: string;
    role: 'viewer' | 'responder' | 'admin';
    expires_at: Date;
    stale: boolean;
  }>(
    `SELECT operator_name, role, expires_at,
            last_seen_at < now() - make_interval(secs => $2) AS stale
     FROM operator_sessions WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
    [hash, LAST_SEEN_EVERY_S],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) {
    await db.query('UPDATE operator_sessions SET last_seen_at = now() WHERE id_hash = $1', [hash]);
  }
  return {
    name: row.operator_name,
    role: row.role,
    ref: hash.toString('hex'),
    expiresAt: row.expires_at,
  };
}

/** Sign-out: the session ends now. The operator it belonged to, or null if it was not live. */
export async function endOperatorSession(db: Queryable, id: string): Promise<SessionOwner | null> {
  if (!id.startsWith(SESSION_ID_PREFIX)) return null;
  const { rows } = await db.query<{
    operator_name: string;
    role: 'viewer' | 'responder' | 'admin';
  }>(
    `UPDATE operator_sessions SET revoked_at = now()
     WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > now()
     RETURNING operator_name, role`,
    [secretHash(id)],
  );
  const row = rows[0];
  return row ? { name: row.operator_name, role: row.role } : null;
}

/**
 * An admin's "revoke all of operator X": every live session ends, and every operator JWT for X
 * issued until now is refused from here on. Returns how many sessions ended.
 */
export async function revokeOperatorAccess(db: Queryable, operatorName: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE operator_sessions SET revoked_at = now()
     WHERE operator_name = $1 AND revoked_at IS NULL AND expires_at > now()`,
    [operatorName],
  );
  await db.query(
    `INSERT INTO operator_revocations (operator_name, revoked_before) VALUES ($1, now())
     ON CONFLICT (operator_name) DO UPDATE SET revoked_before = excluded.revoked_before`,
    [operatorName],
  );
  return rowCount ?? 0;
}

/** When the operator's JWTs were last revoked, if ever: tokens issued up to then are refused. */
export async function operatorRevokedBefore(
  db: Queryable,
  operatorName: string,
): Promise<Date | null> {
  const { rows } = await db.query<{ revoked_before: Date }>(
    'SELECT revoked_before FROM operator_revocations WHERE operator_name = $1',
    [operatorName],
  );
  return rows[0]?.revoked_before ?? null;
}

/** The revoke-all instants of these operators (those with one). */
export async function operatorRevocations(
  db: Queryable,
  names: string[],
): Promise<Map<string, Date>> {
  if (names.length === 0) return new Map();
  const { rows } = await db.query<{ operator_name: string; revoked_before: Date }>(
    'SELECT operator_name, revoked_before FROM operator_revocations WHERE operator_name = ANY($1)',
    [names],
  );
  return new Map(rows.map((r) => [r.operator_name, r.revoked_before]));
}

/** Of these session refs (hex hashes), the ones still live: open WebSockets recheck theirs. */
export async function liveSessionRefs(db: Queryable, refs: string[]): Promise<Set<string>> {
  if (refs.length === 0) return new Set();
  const { rows } = await db.query<{ ref: string }>(
    `SELECT encode(id_hash, 'hex') AS ref FROM operator_sessions
     WHERE id_hash = ANY($1::bytea[]) AND revoked_at IS NULL AND expires_at > now()`,
    [refs.map((r) => Buffer.from(r, 'hex'))],
  );
  return new Set(rows.map((r) => r.ref));
}
