import type { Host, HostStatus } from './models.js';
import type { Queryable } from './pool.js';

export interface HostRegistration {
  hostname: string;
  platform: string;
  agentVersion: string;
  /** SHA-256 of the freshly issued agent token. */
  agentTokenHash: Buffer;
}

interface HostRow {
  host_id: string;
  hostname: string;
  platform: string;
  agent_version: string;
  status: HostStatus;
  registered_at: Date;
  last_seen: Date | null;
}

const HOST_COLUMNS = 'host_id, hostname, platform, agent_version, status, registered_at, last_seen';

const toHost = (r: HostRow): Host => ({
  hostId: r.host_id,
  hostname: r.hostname,
  platform: r.platform,
  agentVersion: r.agent_version,
  status: r.status,
  registeredAt: r.registered_at,
  lastSeen: r.last_seen,
});

/**
 * Inserts a host, or updates the one with this hostname, and returns it. A
 * host that registers again keeps its host_id; its token hash is replaced, so
 * the previous token stops working.
 */
export async function upsertHost(db: Queryable, reg: HostRegistration): Promise<Host> {
  const { rows } = await db.query<HostRow>(
    `INSERT INTO hosts (host_id, hostname, platform, agent_version, agent_token_hash)
     VALUES (gen_random_uuid(), $1, $2, $3, $4)
     ON CONFLICT (hostname) DO UPDATE SET
       platform = EXCLUDED.platform,
       agent_version = EXCLUDED.agent_version,
       agent_token_hash = EXCLUDED.agent_token_hash
     RETURNING ${HOST_COLUMNS}`,
    [reg.hostname, reg.platform, reg.agentVersion, reg.agentTokenHash],
  );
  return toHost(rows[0]!);
}

export async function getHost(db: Queryable, hostId: string): Promise<Host | null> {
  const { rows } = await db.query<HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts WHERE host_id = $1`, [
    hostId,
  ]);
  return rows[0] ? toHost(rows[0]) : null;
}

/** The host whose current agent token has this hash. */
export async function findHostByTokenHash(db: Queryable, tokenHash: Buffer): Promise<Host | null> {
  const { rows } = await db.query<HostRow>(
    `SELECT ${HOST_COLUMNS} FROM hosts WHERE agent_token_hash = $1`,
    [tokenHash],
  );
  return rows[0] ? toHost(rows[0]) : null;
}

/** All hosts, ordered by hostname. */
export async function listHosts(db: Queryable): Promise<Host[]> {
  const { rows } = await db.query<HostRow>(`SELECT ${HOST_COLUMNS} FROM hosts ORDER BY hostname`);
  return rows.map(toHost);
}

/** Records liveness: `online` while a stream is open; `offline` stamps last_seen. */
export async function setHostStatus(
  db: Queryable,
  hostId: string,
  status: HostStatus,
): Promise<Host | null> {
  const { rows } = await db.query<HostRow>(
    `UPDATE hosts SET status = $2, last_seen = now() WHERE host_id = $1 RETURNING ${HOST_COLUMNS}`,
    [hostId, status],
  );
  return rows[0] ? toHost(rows[0]) : null;
}
