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
  /** bigint: a string from `pg`. */
  status_version: string | number;
}

const HOST_COLUMNS =
  'host_id, hostname, platform, agent_version, status, registered_at, last_seen, status_version';

const toHost = (r: HostRow): Host => ({
  hostId: r.host_id,
  hostname: r.hostname,
  platform: r.platform,
  agentVersion: r.agent_version,
  status: r.status,
  registeredAt: r.registered_at,
  lastSeen: r.last_seen,
  statusVersion: Number(r.status_version),
});

/**
 * Inserts a host, or updates the one with this hostname, and returns it; its token hash is
 * replaced, so the previous token stops working. For fixtures and benchmarks: RegisterAgent
 * uses insertNewHost / lockHostByHostname / replaceAgentToken, which need proof to take over an
 * existing hostname (services/ingest/src/enrollment.ts).
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

/** Inserts a host unless its hostname exists (then null: see lockHostByHostname). */
export async function insertNewHost(db: Queryable, reg: HostRegistration): Promise<Host | null> {
  const { rows } = await db.query<HostRow>(
    `INSERT INTO hosts (host_id, hostname, platform, agent_version, agent_token_hash)
     VALUES (gen_random_uuid(), $1, $2, $3, $4)
     ON CONFLICT (hostname) DO NOTHING
     RETURNING ${HOST_COLUMNS}`,
    [reg.hostname, reg.platform, reg.agentVersion, reg.agentTokenHash],
  );
  return rows[0] ? toHost(rows[0]) : null;
}

/**
 * The host with this hostname and its current token hash, locked until the transaction ends, so
 * two registrations of one hostname decide one after the other.
 */
export async function lockHostByHostname(
  db: Queryable,
  hostname: string,
): Promise<{ host: Host; agentTokenHash: Buffer | null } | null> {
  const { rows } = await db.query<HostRow & { agent_token_hash: Buffer | null }>(
    `SELECT ${HOST_COLUMNS}, agent_token_hash FROM hosts WHERE hostname = $1 FOR UPDATE`,
    [hostname],
  );
  const r = rows[0];
  return r ? { host: toHost(r), agentTokenHash: r.agent_token_hash } : null;
}

/** A new agent token for an existing host (its previous token stops working at COMMIT). */
export async function replaceAgentToken(
  db: Queryable,
  hostId: string,
  reg: Omit<HostRegistration, 'hostname'>,
): Promise<Host> {
  const { rows } = await db.query<HostRow>(
    `UPDATE hosts SET platform = $2, agent_version = $3, agent_token_hash = $4
     WHERE host_id = $1 RETURNING ${HOST_COLUMNS}`,
    [hostId, reg.platform, reg.agentVersion, reg.agentTokenHash],
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
    `UPDATE hosts SET status = $2, last_seen = now(), status_version = status_version + 1
     WHERE host_id = $1 RETURNING ${HOST_COLUMNS}`,
    [hostId, status],
  );
  return rows[0] ? toHost(rows[0]) : null;
}

// Liveness across ingest instances. A host's stream is leased by one instance (its
// `stream_instance`), renewed by that instance's heartbeat (`stream_seen_at`). Each function
// returns only the hosts whose status it changed, so the caller publishes exactly the changes.

interface HostChangeRow extends HostRow {
  previous_status: HostStatus;
}

const changed = (rows: HostChangeRow[]): Host[] =>
  rows.filter((r) => r.previous_status !== r.status).map(toHost);

const RETURNING_CHANGE = `RETURNING ${HOST_COLUMNS.split(', ')
  .map((c) => `h.${c}`)
  .join(', ')}, mine.previous_status`;

/**
 * A stream opened on `instanceId`: the host is online and this instance holds its lease,
 * whoever held it before (the agent moved here). Returns the host if it was offline.
 */
export async function claimHostStream(
  db: Queryable,
  hostId: string,
  instanceId: string,
): Promise<Host | null> {
  const { rows } = await db.query<HostChangeRow>(
    `WITH mine AS (SELECT host_id, status AS previous_status FROM hosts WHERE host_id = $1 FOR UPDATE)
     UPDATE hosts h SET status = 'online', stream_instance = $2, stream_seen_at = now(), last_seen = now(),
       status_version = h.status_version + 1
     FROM mine WHERE h.host_id = mine.host_id
     ${RETURNING_CHANGE}`,
    [hostId, instanceId],
  );
  return changed(rows)[0] ?? null;
}

/**
 * The last stream on `instanceId` closed: offline, but only if this instance still holds the
 * lease. An agent that already moved to another instance stays online. Returns the host if
 * it went offline.
 */
export async function releaseHostStream(
  db: Queryable,
  hostId: string,
  instanceId: string,
): Promise<Host | null> {
  const { rows } = await db.query<HostChangeRow>(
    `WITH mine AS (
       SELECT host_id, status AS previous_status FROM hosts
       WHERE host_id = $1 AND stream_instance = $2 FOR UPDATE
     )
     UPDATE hosts h SET status = 'offline', stream_instance = NULL, stream_seen_at = NULL, last_seen = now(),
       status_version = h.status_version + 1
     FROM mine WHERE h.host_id = mine.host_id
     ${RETURNING_CHANGE}`,
    [hostId, instanceId],
  );
  return changed(rows)[0] ?? null;
}

/**
 * The heartbeat: one statement renews every lease `instanceId` still holds among `hostIds`
 * (the hosts with a stream open on it). Returns the ids it renewed; a host missing from the
 * answer lost its lease (expired, or another instance holds it).
 */
export async function renewHostStreams(
  db: Queryable,
  instanceId: string,
  hostIds: string[],
): Promise<Set<string>> {
  if (hostIds.length === 0) return new Set();
  const { rows } = await db.query<{ host_id: string }>(
    `UPDATE hosts SET stream_seen_at = now(), last_seen = now()
     WHERE host_id = ANY($2::uuid[]) AND stream_instance = $1
     RETURNING host_id`,
    [instanceId, hostIds],
  );
  return new Set(rows.map((r) => r.host_id));
}

/**
 * A stream is open on `instanceId` but nobody holds the host's lease (it expired while this
 * instance could not renew it, or the instance that held it released it): take it. A lease
 * another instance holds is left alone. Returns the host if it was offline.
 */
export async function adoptHostStream(
  db: Queryable,
  hostId: string,
  instanceId: string,
): Promise<Host | null> {
  const { rows } = await db.query<HostChangeRow>(
    `WITH mine AS (
       SELECT host_id, status AS previous_status FROM hosts
       WHERE host_id = $1 AND stream_instance IS NULL FOR UPDATE
     )
     UPDATE hosts h SET status = 'online', stream_instance = $2, stream_seen_at = now(), last_seen = now(),
       status_version = h.status_version + 1
     FROM mine WHERE h.host_id = mine.host_id
     ${RETURNING_CHANGE}`,
    [hostId, instanceId],
  );
  return changed(rows)[0] ?? null;
}

/**
 * The sweeper, run by every instance: hosts whose lease was not renewed for `leaseMs` (the
 * instance holding it died without closing its streams) go offline, `last_seen` being the
 * last renewal. Rows another sweeper is already changing are skipped, so each change is
 * made, and returned for publishing, once. Also ends `online` rows that no instance holds
 * (left by a version before leases).
 */
export async function expireHostStreams(db: Queryable, leaseMs: number): Promise<Host[]> {
  const { rows } = await db.query<HostRow>(
    `UPDATE hosts h SET status = 'offline', last_seen = coalesce(h.stream_seen_at, h.last_seen, now()),
       stream_instance = NULL, stream_seen_at = NULL, status_version = h.status_version + 1
     WHERE h.host_id IN (
       SELECT host_id FROM hosts
       WHERE (stream_instance IS NOT NULL AND stream_seen_at < now() - make_interval(secs => $1::double precision / 1000))
          OR (status = 'online' AND stream_instance IS NULL)
       FOR UPDATE SKIP LOCKED
     )
     RETURNING ${HOST_COLUMNS.split(', ')
       .map((c) => `h.${c}`)
       .join(', ')}`,
    [leaseMs],
  );
  return rows.map(toHost);
}

/** One page of hosts by host_id, after `afterId` (null: from the first): their current state. */
export async function hostsPage(
  db: Queryable,
  afterId: string | null,
  limit: number,
): Promise<Host[]> {
  const { rows } = await db.query<HostRow>(
    `SELECT ${HOST_COLUMNS} FROM hosts WHERE host_id > $1::uuid ORDER BY host_id LIMIT $2`,
    [afterId ?? '00000000-0000-0000-0000-000000000000', limit],
  );
  return rows.map(toHost);
}
