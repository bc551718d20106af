// Host liveness with several ingest instances on one database: an agent moving between them,
// and an instance killed with SIGKILL (a real child process) without closing its streams.
import { randomUUID } from 'node:crypto';
import type { AlertServiceClient } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestProcess } from '../src/testing/ingest-process.js';
import {
  AgentSession,
  busReader,
  connect,
  ENROLLMENT_TOKEN,
  type RunningIngest,
  register,
  startIngest,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
// Test-friendly timings: leases renewed every 100 ms, dead after 600 ms, swept every 100 ms.
const TIMINGS = { HOST_HEARTBEAT_MS: '100', HOST_LEASE_MS: '600', HOST_SWEEP_MS: '100' };
let a: RunningIngest;
let b: RunningIngest;
let clientA: AlertServiceClient;
let clientB: AlertServiceClient;
let bus: ReturnType<typeof busReader>;

beforeAll(async () => {
  a = await startIngest(env, TIMINGS);
  b = await startIngest(env, TIMINGS);
  clientA = connect(a.address);
  clientB = connect(b.address);
  bus = busReader(env);
});
afterAll(async () => {
  await bus?.stop();
  clientA?.close();
  clientB?.close();
  await a?.stop();
  await b?.stop();
});

const hostRow = async (hostId: string) =>
  (
    await env.pool.query<{ status: string; stream_instance: string | null; last_seen: Date }>(
      'SELECT status, stream_instance, stream_seen_at, last_seen FROM hosts WHERE host_id = $1',
      [hostId],
    )
  ).rows[0]!;

/** The statuses published on the bus for this host, in order. */
const hostEvents = (hostId: string) =>
  bus.entries.flatMap((x) =>
    x.message.type === 'host' && x.message.data.host_id === hostId ? [x.message.data.status] : [],
  );

/** The status_version each of those messages carries. */
const hostVersions = (hostId: string) =>
  bus.entries.flatMap((x) =>
    x.message.type === 'host' && x.message.data.host_id === hostId ? [x.message.data.version] : [],
  );

/**
 * Waits until the lease of this host has been renewed `n` more times (stream_seen_at moved on):
 * n heartbeats of its holder, and as many of every other instance, have run. A quiet period
 * counted in heartbeats, for "nothing changes meanwhile", that a slow machine stretches alike.
 */
async function renewals(hostId: string, n: number): Promise<void> {
  const seen = new Set<number>();
  const stamp = async () =>
    (
      await env.pool.query<{ at: Date | null }>(
        'SELECT stream_seen_at AS at FROM hosts WHERE host_id = $1',
        [hostId],
      )
    ).rows[0]?.at?.getTime();
  const first = await stamp();
  await until(
    async () => {
      const at = await stamp();
      if (at !== undefined && at !== first) seen.add(at);
      return seen.size >= n;
    },
    10_000,
    `${n} lease renewals`,
  );
}

describe('host liveness across ingest instances', () => {
  it('an agent moving from A to B stays online, B holds it, and A closing the old stream late changes nothing', async () => {
    const reg = await register(clientA, `mover-${randomUUID().slice(0, 8)}`);
    const onA = new AgentSession(clientA, reg.agentToken, true);
    await until(async () => (await hostRow(reg.hostId)).stream_instance === a.server.instanceId);
    expect((await hostRow(reg.hostId)).status).toBe('online');

    // The agent reconnects to B while its stream on A has not noticed yet.
    const onB = new AgentSession(clientB, reg.agentToken, true);
    await until(async () => (await hostRow(reg.hostId)).stream_instance === b.server.instanceId);
    // A's heartbeats must not take the host back while B holds it.
    await renewals(reg.hostId, 4);
    expect(await hostRow(reg.hostId)).toMatchObject({
      status: 'online',
      stream_instance: b.server.instanceId,
    });

    onA.end();
    await onA.status;
    // Several heartbeats and sweeps later: still online, still B's.
    await renewals(reg.hostId, 8);
    expect(await hostRow(reg.hostId)).toMatchObject({
      status: 'online',
      stream_instance: b.server.instanceId,
    });
    expect(hostEvents(reg.hostId)).toEqual(['online']);

    onB.end();
    await onB.status;
    await until(async () => (await hostRow(reg.hostId)).status === 'offline');
    expect((await hostRow(reg.hostId)).stream_instance).toBeNull();
    await until(() => hostEvents(reg.hostId).length === 2);
    expect(hostEvents(reg.hostId)).toEqual(['online', 'offline']);
    // Versions increase, and the last published is the row's (B's claim bumped it unpublished).
    const [online, offline] = hostVersions(reg.hostId);
    const { rows } = await env.pool.query('SELECT status_version FROM hosts WHERE host_id = $1', [
      reg.hostId,
    ]);
    expect(online).toBeLessThan(offline!);
    expect(offline).toBe(Number(rows[0].status_version));
  });

  it('when the instance holding the host lets go while a stream is still open elsewhere, that instance takes it back within a heartbeat', async () => {
    const reg = await register(clientA, `two-streams-${randomUUID().slice(0, 8)}`);
    const onA = new AgentSession(clientA, reg.agentToken, true);
    await until(async () => (await hostRow(reg.hostId)).stream_instance === a.server.instanceId);
    const onB = new AgentSession(clientB, reg.agentToken, true);
    await until(async () => (await hostRow(reg.hostId)).stream_instance === b.server.instanceId);
    onB.end();
    await onB.status;
    await until(async () => (await hostRow(reg.hostId)).stream_instance === a.server.instanceId);
    expect((await hostRow(reg.hostId)).status).toBe('online');
    await until(
      () => hostEvents(reg.hostId).at(-1) === 'online' && hostEvents(reg.hostId).length === 3,
    );
    expect(hostEvents(reg.hostId)).toEqual(['online', 'offline', 'online']);
    onA.end();
    await onA.status;
    await until(async () => (await hostRow(reg.hostId)).status === 'offline');
  });

  it('an instance killed with SIGKILL leaves its hosts online only until their lease expires; another instance marks them offline and publishes it', async () => {
    const doomed = await IngestProcess.create(env, ENROLLMENT_TOKEN, TIMINGS);
    await doomed.start();
    try {
      const client = connect(doomed.address);
      const reg = await register(client, `orphan-${randomUUID().slice(0, 8)}`);
      const session = new AgentSession(client, reg.agentToken, true);
      await until(async () => (await hostRow(reg.hostId)).status === 'online');
      const owner = (await hostRow(reg.hostId)).stream_instance;
      expect(owner).not.toBeNull();
      expect([a.server.instanceId, b.server.instanceId]).not.toContain(owner);
      // The lease is being renewed: well past one lease (8 renewals of 100 ms > 600 ms) it is
      // still online.
      await renewals(reg.hostId, 8);
      expect((await hostRow(reg.hostId)).status).toBe('online');

      await doomed.kill9();
      const killedAt = Date.now();
      // Expected after the lease (600 ms) from the last renewal plus at most one sweep (100 ms);
      // the bound is far above that, so failing it means the host is never swept, not slowness.
      await until(async () => (await hostRow(reg.hostId)).status === 'offline', 15_000, 'offline');
      const row = await hostRow(reg.hostId);
      expect(row.stream_instance).toBeNull();
      expect(row.last_seen.getTime()).toBeLessThanOrEqual(killedAt + 50);
      await until(() => hostEvents(reg.hostId).at(-1) === 'offline', 5_000, 'the host message');
      expect(hostEvents(reg.hostId)).toEqual(['online', 'offline']);
      await session.status;
      client.close();
    } finally {
      await doomed.kill9();
    }
  });
});
