import { createHash, randomBytes } from 'node:crypto';
import {
  appendAuditEntry,
  createEnrollmentToken,
  type EnrollmentToken,
  enrollmentTokenStatus,
  type Pool,
  revokeEnrollmentToken,
  withTransaction,
} from '@tripwire/storage';
import { MAX_HOSTNAME_LENGTH } from '@tripwire/wire';

/** A hostname glob: hostname characters plus `*` and `?`. */
export const HOSTNAME_PATTERN = /^[A-Za-z0-9.*?_-]+$/;
export const MAX_TOKEN_NAME_LENGTH = 100;
export const MAX_TOKEN_USES = 1_000_000;

export interface EnrollmentTokenRequest {
  name: string;
  maxUses: number;
  expiresInS: number;
  hostnamePattern: string | null;
}

/** A token as the REST API and the CLI show it (never the token itself, never its hash). */
export const enrollmentTokenJson = (t: EnrollmentToken) => ({
  token_id: t.tokenId,
  name: t.name,
  hostname_pattern: t.hostnamePattern,
  max_uses: t.maxUses,
  uses: t.uses,
  status: enrollmentTokenStatus(t),
  expires_at: t.expiresAt.toISOString(),
  created_at: t.createdAt.toISOString(),
  created_by: t.createdBy,
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  revoked_at: t.revokedAt?.toISOString() ?? null,
  revoked_by: t.revokedBy,
});

/**
 * Creates a managed enrollment token: 256 random bits, `twe_`-prefixed like the bootstrap one;
 * only its SHA-256 is stored, so the token is returned here once and can never be shown again.
 * Audited in the same transaction.
 */
export async function issueEnrollmentToken(
  pool: Pool,
  input: EnrollmentTokenRequest,
  actor: string,
): Promise<{ token: string; record: EnrollmentToken }> {
  const token = `twe_${randomBytes(32).toString('base64url')}`;
  const record = await withTransaction(pool, async (db) => {
    const t = await createEnrollmentToken(db, {
      name: input.name,
      tokenHash: createHash('sha256').update(token).digest(),
      hostnamePattern: input.hostnamePattern,
      maxUses: input.maxUses,
      expiresAt: new Date(Date.now() + input.expiresInS * 1000),
      createdBy: actor,
    });
    await appendAuditEntry(db, {
      actor,
      action: 'enrollment_token.create',
      target: t.tokenId,
      details: { token: enrollmentTokenJson(t) },
    });
    return t;
  });
  return { token, record };
}

/** Revokes a token, audited (a second revoke changes nothing and is not); null if none. */
export function revokeManagedToken(
  pool: Pool,
  tokenId: string,
  actor: string,
): Promise<EnrollmentToken | null> {
  return withTransaction(pool, async (db) => {
    const result = await revokeEnrollmentToken(db, tokenId, actor);
    if (result?.changed)
      await appendAuditEntry(db, {
        actor,
        action: 'enrollment_token.revoke',
        target: tokenId,
        details: { token: enrollmentTokenJson(result.token) },
      });
    return result?.token ?? null;
  });
}

export function checkHostnamePattern(pattern: string): string | null {
  if (pattern.length > MAX_HOSTNAME_LENGTH)
    return `must be at most ${MAX_HOSTNAME_LENGTH} characters`;
  if (!HOSTNAME_PATTERN.test(pattern))
    return 'must be a hostname glob: letters, digits, . - _ and the wildcards * and ?';
  return null;
}
