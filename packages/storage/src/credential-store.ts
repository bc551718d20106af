import { findLiveApiToken } from './api-tokens.js';
import { findLiveSession, operatorRevokedBefore } from './operator-sessions.js';
import type { Queryable } from './pool.js';

/**
 * The lookups an operator credential verifier makes (@tripwire/operator-auth's CredentialStore),
 * each a read of PostgreSQL, so a revocation holds on every instance with no cache to expire.
 */
export function credentialStore(db: Queryable) {
  return {
    findLiveSession: (id: string) => findLiveSession(db, id),
    findLiveApiToken: (secret: string) => findLiveApiToken(db, secret),
    operatorRevokedBefore: (name: string) => operatorRevokedBefore(db, name),
  };
}
