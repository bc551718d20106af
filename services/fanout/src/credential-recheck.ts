import type { Logger } from '@tripwire/logger';
import {
  liveApiTokenIds,
  liveSessionRefs,
  operatorRevocations,
  type Pool,
} from '@tripwire/storage';
import type { FanoutMetrics } from './fanout-metrics.js';
import { CLOSE_CREDENTIAL_ENDED } from './limits.js';
import type { Credential } from './operator-auth.js';
import type { FanoutSocket } from './socket-state.js';

type Ending = 'expired' | 'revoked';

/**
 * Open WebSockets outlive the request that authenticated them: every `intervalMs`
 * (WS_CREDENTIAL_RECHECK_MS) each socket's credential is checked again, in three queries for
 * all of them, and a socket whose session ended, whose API token was revoked, whose JWT was
 * revoked by an admin, or whose credential expired is closed with 4001. While PostgreSQL is out
 * of reach nothing is closed (an outage must not sign everyone out); expiry still applies.
 * Returns the function that stops the recheck.
 */
export function startCredentialRecheck(deps: {
  sockets: Set<FanoutSocket>;
  pool: Pool;
  intervalMs: number;
  metrics: FanoutMetrics;
  log: Logger;
}): () => void {
  let running = false;
  const close = (ws: FanoutSocket, credential: Credential, ending: Ending) => {
    const state = ws.getUserData();
    if (state.closed) return;
    state.closed = true;
    deps.sockets.delete(ws);
    deps.metrics.credentialCloses.inc({ kind: credential.kind, ending });
    ws.end(CLOSE_CREDENTIAL_ENDED, `credential ${ending}: sign in again`);
  };
  const recheck = async () => {
    const open = [...deps.sockets].map((ws) => ({ ws, credential: credentialOf(ws) }));
    const now = Date.now();
    for (const { ws, credential } of open) {
      if (credential.expiresAt.getTime() <= now) close(ws, credential, 'expired');
    }
    const ended = await revokedCredentials(
      deps.pool,
      open.map((o) => o.credential),
    );
    for (const { ws, credential } of open)
      if (ended.has(credential)) close(ws, credential, 'revoked');
  };
  const timer = setInterval(() => {
    if (running || deps.sockets.size === 0) return;
    running = true;
    recheck()
      .then(
        () => deps.metrics.credentialRechecks.inc({ outcome: 'ok' }),
        (err) => {
          deps.metrics.credentialRechecks.inc({ outcome: 'failed' });
          deps.log.warn({ err }, 'cannot recheck WebSocket credentials; retrying');
        },
      )
      .finally(() => {
        running = false;
      });
  }, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

const credentialOf = (ws: FanoutSocket): Credential => ws.getUserData().operator.credential;

/** The credentials among these that were revoked since the socket was opened. */
async function revokedCredentials(pool: Pool, credentials: Credential[]): Promise<Set<Credential>> {
  const refs = (kind: Credential['kind']) => [
    ...new Set(credentials.filter((c) => c.kind === kind).map((c) => c.ref)),
  ];
  const [sessions, tokens, revocations] = await Promise.all([
    liveSessionRefs(pool, refs('session')),
    liveApiTokenIds(pool, refs('api_token')),
    operatorRevocations(pool, refs('jwt')),
  ]);
  const ended = new Set<Credential>();
  for (const c of credentials) {
    const revokedBefore = revocations.get(c.ref);
    const gone =
      c.kind === 'session'
        ? !sessions.has(c.ref)
        : c.kind === 'api_token'
          ? !tokens.has(c.ref)
          : Boolean(
              revokedBefore &&
                c.issuedAt &&
                c.issuedAt.getTime() <= Math.floor(revokedBefore.getTime() / 1000) * 1000,
            );
    if (gone) ended.add(c);
  }
  return ended;
}
