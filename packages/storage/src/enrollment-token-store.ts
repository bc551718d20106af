import type { Queryable } from './pool.js';

/** An enrollment token an admin created. The token itself is never stored, only its SHA-256. */
export interface EnrollmentToken {
  tokenId: string;
  name: string;
  /** A glob (`*`, `?`) the registering hostname must match (case-insensitively); null: any. */
  hostnamePattern: string | null;
  maxUses: number;
  uses: number;
  expiresAt: Date;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export type EnrollmentTokenStatus = 'active' | 'expired' | 'revoked' | 'used_up';

export interface NewEnrollmentToken {
  name: string;
  tokenHash: Buffer;
  hostnamePattern: string | null;
  maxUses: number;
  expiresAt: Date;
  createdBy: string;
}

interface TokenRow {
  token_id: string;
  name: string;
  hostname_pattern: string | null;
  max_uses: number;
  uses: number;
  expires_at: Date;
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const TOKEN_COLUMNS =
  'token_id, name, hostname_pattern, max_uses, uses, expires_at, created_at, created_by, last_used_at, revoked_at, revoked_by';

const toToken = (r: TokenRow): EnrollmentToken => ({
  tokenId: r.token_id,
  name: r.name,
  hostnamePattern: r.hostname_pattern,
  maxUses: r.max_uses,
  uses: r.uses,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});

/**
 * The hostname pattern as an ILIKE pattern, in SQL so the check and the atomic use agree: LIKE's
 * own wildcards and escape are escaped first, then the glob's `*` and `?` become `%` and `_`.
 */
const HOSTNAME_MATCHES = `(hostname_pattern IS NULL OR $2::text ILIKE
  replace(replace(replace(replace(replace(hostname_pattern, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%'), '?', '_'))`;

/** Why a token cannot be used now, or `active`. */
export function enrollmentTokenStatus(t: EnrollmentToken, now = new Date()): EnrollmentTokenStatus {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt <= now) return 'expired';
  if (t.uses >= t.maxUses) return 'used_up';
  return 'active';
}

export async function createEnrollmentToken(
  db: Queryable,
  input: NewEnrollmentToken,
): Promise<EnrollmentToken> {
  const { rows } = await db.query<TokenRow>(
    `INSERT INTO enrollment_tokens (token_id, name, token_hash, hostname_pattern, max_uses, expires_at, created_by)
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6) RETURNING ${TOKEN_COLUMNS}`,
    [
      input.name,
      input.tokenHash,
      input.hostnamePattern,
      input.maxUses,
      input.expiresAt,
      input.createdBy,
    ],
  );
  return toToken(rows[0]!);
}

/** Every token, newest first (revoked and expired ones too: they explain past enrollments). */
export async function listEnrollmentTokens(
  db: Queryable,
  limit = 1000,
): Promise<EnrollmentToken[]> {
  const { rows } = await db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens ORDER BY created_at DESC, token_id LIMIT $1`,
    [limit],
  );
  return rows.map(toToken);
}

/** Revokes a token; `changed` is false when it already was. Null if there is no such token. */
export async function revokeEnrollmentToken(
  db: Queryable,
  tokenId: string,
  revokedBy: string,
): Promise<{ token: EnrollmentToken; changed: boolean } | null> {
  const { rows } = await db.query<TokenRow>(
    `UPDATE enrollment_tokens SET revoked_at = now(), revoked_by = $2
     WHERE token_id = $1 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`,
    [tokenId, revokedBy],
  );
  if (rows[0]) return { token: toToken(rows[0]), changed: true };
  const { rows: existing } = await db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM enrollment_tokens WHERE token_id = $1`,
    [tokenId],
  );
  return existing[0] ? { token: toToken(existing[0]), changed: false } : null;
}

/** The token with this hash, and whether `hostname` matches its pattern; null if none. */
export async function findEnrollmentToken(
  db: Queryable,
  tokenHash: Buffer,
  hostname: string,
): Promise<{ token: EnrollmentToken; hostnameMatches: boolean } | null> {
  const { rows } = await db.query<TokenRow & { hostname_matches: boolean }>(
    `SELECT ${TOKEN_COLUMNS}, ${HOSTNAME_MATCHES} AS hostname_matches
     FROM enrollment_tokens WHERE token_hash = $1`,
    [tokenHash, hostname],
  );
  const r = rows[0];
  return r ? { token: toToken(r), hostnameMatches: r.hostname_matches } : null;
}

/**
 * Counts one use of a token for `hostname`, only if it is still usable (not revoked, not expired,
 * uses left, hostname matching). The row lock makes concurrent uses queue, so a token is never
 * used more than max_uses times; call it in the transaction that enrolls the host, so a failed
 * enrollment gives the use back. Returns whether the use was counted.
 */
export async function consumeEnrollmentTokenUse(
  db: Queryable,
  tokenId: string,
  hostname: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE enrollment_tokens SET uses = uses + 1, last_used_at = now()
     WHERE token_id = $1 AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses
       AND ${HOSTNAME_MATCHES}`,
    [tokenId, hostname],
  );
  return rowCount === 1;
}
