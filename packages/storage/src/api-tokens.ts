import { newSecret, secretHash } from './operator-sessions.js';
import type { Queryable } from './pool.js';

/** API tokens start with this, so a leaked one is recognisable (and secret scanners can match it). */
export const API_TOKEN_PREFIX = 'twk_';

export interface ApiToken {
  tokenId: string;
  name: string;
  role: 'viewer' | 'responder' | 'admin';
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

interface ApiTokenRow {
  token_id: string;
  name: string;
  role: 'viewer' | 'responder' | 'admin';
  created_by: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS =
  'token_id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at';

const toApiToken = (r: ApiTokenRow): ApiToken => ({
  tokenId: r.token_id,
  name: r.name,
  role: r.role,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

/** last_used_at is written at most this often per token. */
const LAST_USED_EVERY_S = 60;

/** A new token; `secret` is the only copy of the token itself: show it once. */
export async function createApiToken(
  db: Queryable,
  input: {
    name: string;
    role: 'viewer' | 'responder' | 'admin';
    createdBy: string;
    expiresInS: number;
  },
): Promise<{ token: ApiToken; secret: string }> {
  const secret = newSecret(API_TOKEN_PREFIX);
  const { rows } = await db.query<ApiTokenRow>(
    `INSERT INTO api_tokens (name, role, token_hash, created_by, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING ${COLUMNS}`,
    [input.name, input.role, secretHash(secret), input.createdBy, input.expiresInS],
  );
  return { token: toApiToken(rows[0]!), secret };
}

/** The newest tokens first, revoked and expired ones included (they show who had access). */
export async function listApiTokens(db: Queryable, limit: number): Promise<ApiToken[]> {
  const { rows } = await db.query<ApiTokenRow>(
    `SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC, token_id LIMIT $1`,
    [limit],
  );
  return rows.map(toApiToken);
}

/** Revokes a token; null when there is no such token, the row (revoked earlier or now) otherwise. */
export async function revokeApiToken(db: Queryable, tokenId: string): Promise<ApiToken | null> {
  const { rows } = await db.query<ApiTokenRow>(
    `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1
     RETURNING ${COLUMNS}`,
    [tokenId],
  );
  return rows[0] ? toApiToken(rows[0]) : null;
}

/** The live (unrevoked, unexpired) token a request presents, or null. */
export async function findLiveApiToken(db: Queryable, secret: string): Promise<ApiToken | null> {
  if (!secret.startsWith(API_TOKEN_PREFIX)) return null;
  const { rows } = await db.query<ApiTokenRow & { stale: boolean }>(
    `SELECT ${COLUMNS},
            coalesce(last_used_at < now() - make_interval(secs => $2), true) AS stale
     FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
    [secretHash(secret), LAST_USED_EVERY_S],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) {
    await db.query('UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1', [
      row.token_id,
    ]);
  }
  return toApiToken(row);
}

/** Of these token ids, the ones still live: open WebSockets recheck theirs. */
export async function liveApiTokenIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ token_id: string }>(
    `SELECT token_id FROM api_tokens
     WHERE token_id = ANY($1::uuid[]) AND revoked_at IS NULL AND expires_at > now()`,
    [ids],
  );
  return new Set(rows.map((r) => r.token_id));
}
