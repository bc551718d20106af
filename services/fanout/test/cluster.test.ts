// Many instances, one truth: two ingest and two fan-out processes on one PostgreSQL and one
// Redis, tripwire-agent `demo` processes given both ingest addresses (in different orders), and
// WebSocket clients with different filters on both fan-outs. One fan-out and one ingest are
// killed with SIGKILL mid-stream; every client must still see every matching alert once, in
// order per host, and host status must stay right while agents move between instances.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata } from '@grpc/grpc-js';
import { createRedisClient, streamKey } from '@tripwire/bus';
import { IngestProcess } from '@tripwire/ingest/testing';
import { AlertServiceClient } from '@tripwire/proto';
import { ServiceProcess } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FanoutProcess } from '../src/testing/fanout-process.js';
import {
  auth,
  Browser,
  ENROLLMENT_TOKEN,
  JWT_SECRET,
  until,
  useEnvironment,
} from './fanout-harness.js';

const AGENT_DIR = fileURLToPath(new URL('../../agent', import.meta.url));
const env = useEnvironment();
// Leases far longer than an agent's reconnect (about 1 s), so a move never looks like an outage.
const INGEST_ENV = {
  LOG_LEVEL: 'info',
  HOST_HEARTBEAT_MS: '300',
  HOST_LEASE_MS: '3000',
  HOST_SWEEP_MS: '300',
  BATCH_MAX_DELAY_MS: '5',
};
const RATE = 40;
const DURATION_S = 12;

let ingests: IngestProcess[] = [];
let fanouts: FanoutProcess[] = [];
const agents: ServiceProcess[] = [];
let token: string;

beforeAll(async () => {
  ingests = await Promise.all(
    [0, 1].map(() => IngestProcess.create(env, ENROLLMENT_TOKEN, INGEST_ENV)),
  );
  fanouts = await Promise.all([0, 1].map(() => FanoutProcess.create(env, JWT_SECRET)));
  await Promise.all([...ingests, ...fanouts].map((p) => p.start()));
  token = await auth.issue('cluster-test', 'viewer');
}, 60_000);
afterAll(async () => {
  await Promise.all([...agents, ...ingests, ...fanouts].map((p) => p.kill9()));
});

type AlertFrame = {
  type: 'alert';
  position: string;
  data: {
    alert_id: string;
    host_id: string;
    severity: string;
    tripwire_type: string;
    timestamp_us: number;
  };
};
type HostFrame = { type: 'host'; position?: string; data: { host_id: string; status: string } };

/**
 * A browser that follows the cluster: when its fan-out dies it reconnects to the next one with
 * `since=<the last position it saw>`, as the dashboard does.
 */
class ClusterClient {
  readonly connections: Browser[] = [];
  private target: number;
  constructor(
    readonly name: string,
    start: number,
    readonly query: Record<string, string>,
  ) {
    this.target = start;
    this.connect();
  }

  get frames() {
    return this.connections.flatMap((b) => b.frames);
  }

  get lastPosition(): string | undefined {
    const withPosition = this.frames.filter((f) => typeof f.position === 'string');
    const last = withPosition.at(-1)?.position as string | undefined;
    const welcome = this.frames.filter((f) => f.type === 'welcome').at(-1)?.position as
      | string
      | undefined;
    return last ?? welcome;
  }

  alerts(): AlertFrame[] {
    return this.frames.filter((f) => f.type === 'alert') as never;
  }

  hostStatuses(hostId: string): string[] {
    return (this.frames.filter((f) => f.type === 'host') as unknown as HostFrame[])
      .filter((f) => f.data.host_id === hostId)
      .map((f) => f.data.status);
  }

  private connect() {
    const since = this.lastPosition;
    const fanout = fanouts[this.target]!;
    const browser = new Browser(fanout.wsUrl, {
      token,
      query: { ...this.query, ...(since ? { since } : {}) },
    });
    this.connections.push(browser);
    void browser.closed.then(() => {
      if (closing) return;
      this.target = (this.target + 1) % fanouts.length;
      this.connect();
    });
  }

  welcomed(n = this.connections.length) {
    return until(
      () => this.frames.filter((f) => f.type === 'welcome').length >= n,
      10_000,
      `${this.name}'s welcome`,
    );
  }

  close() {
    for (const b of this.connections) b.close();
  }
}
let closing = false;

function register(
  address: string,
  hostname: string,
): Promise<{ hostId: string; agentToken: string }> {
  const client = new AlertServiceClient(address, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${ENROLLMENT_TOKEN}`);
  return new Promise((resolve, reject) =>
    client.registerAgent(
      { hostname, platform: 'linux', agentVersion: 'cluster-test' },
      metadata,
      (err, res) => {
        client.close();
        return err ? reject(err) : resolve(res);
      },
    ),
  );
}

const instanceIdOf = (p: IngestProcess) =>
  p.logLines().find((l) => l.msg === 'ingest service listening')?.instanceId as string;

const hostRows = async () =>
  (
    await env.pool.query<{ host_id: string; status: string; stream_instance: string | null }>(
      'SELECT host_id, status, stream_instance FROM hosts',
    )
  ).rows;

describe('two ingest and two fan-out instances', () => {
  it('every client gets every matching alert once, in order per host, through a SIGKILL of one fan-out and one ingest', async () => {
    const started = Date.now();
    const [i1, i2] = ingests as [IngestProcess, IngestProcess];
    // Each agent lists both instances, in a different order; the first is where it starts.
    const plan = [
      { hostname: 'cluster-a1', servers: [i1, i2] },
      { hostname: 'cluster-a2', servers: [i2, i1] },
      { hostname: 'cluster-a3', servers: [i1, i2] },
      { hostname: 'cluster-a4', servers: [i2, i1] },
    ];
    // Registering first tells the test the host ids; each agent starts with those credentials in
    // its state folder (registering an enrolled hostname again would need proof).
    const registrations = await Promise.all(plan.map((p) => register(i1.address, p.hostname)));
    const hostIds = registrations.map((r) => r.hostId);
    const stateDirs = registrations.map((r) => {
      const dir = join(mkdtempSync(join(tmpdir(), 'tripwire-cluster-agent-')), 'state');
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(
        join(dir, 'credentials.json'),
        JSON.stringify({ ...r, registeredAt: new Date().toISOString() }),
        { mode: 0o600 },
      );
      return dir;
    });
    const movers = hostIds.filter((_, n) => plan[n]!.servers[0] === i1);
    const filters: Array<[string, Record<string, string>]> = [
      ['all', {}],
      ['critical', { severity: 'CRITICAL' }],
      ['file-network', { type: 'FILE,NETWORK' }],
      ['two-hosts', { host_id: `${hostIds[0]},${hostIds[3]}` }],
    ];
    const clients = [0, 1].flatMap((f) =>
      filters.map(([name, query]) => new ClusterClient(`${name}@fanout${f + 1}`, f, query)),
    );
    await Promise.all(clients.map((c) => c.welcomed()));

    const demos = plan.map((p, n) => {
      const agent = new ServiceProcess(AGENT_DIR, ['src/cli.ts', 'demo'], {
        TRIPWIRE_LOG_LEVEL: 'info',
      });
      agent.spawn([
        '--server',
        p.servers.map((s) => s.address).join(','),
        '--insecure',
        '--enroll-token',
        ENROLLMENT_TOKEN,
        '--state-dir',
        stateDirs[n]!,
        '--hostname',
        p.hostname,
        '--rate',
        String(RATE),
        '--duration',
        String(DURATION_S),
      ]);
      agents.push(agent);
      return agent;
    });

    // Every host comes online, each held by the instance listed first for it.
    const [id1, id2] = [instanceIdOf(i1), instanceIdOf(i2)];
    expect(id1).toBeTruthy();
    await until(
      async () => {
        const rows = await hostRows();
        return hostIds.every((h, n) => {
          const row = rows.find((r) => r.host_id === h);
          const first = plan[n]!.servers[0] === i1 ? id1 : id2;
          return row?.status === 'online' && row.stream_instance === first;
        });
      },
      20_000,
      'every host online on its first instance',
    );

    // Watch the movers' rows from now until well after their ingest is killed.
    const moverSamples: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rows = await hostRows();
        for (const h of movers) moverSamples.push(rows.find((r) => r.host_id === h)!.status);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const alertCount = async () =>
      Number((await env.pool.query('SELECT count(*) AS n FROM alerts')).rows[0].n);
    // Mid-stream: SIGKILL fan-out 1; its clients move to fan-out 2 and resume.
    await until(async () => (await alertCount()) >= 4 * RATE * 3, 20_000, 'alerts flowing');
    await fanouts[0]!.kill9();
    const fanoutKilledAt = Date.now();
    const moved = clients.slice(0, filters.length);
    await Promise.all(moved.map((c) => c.welcomed(2)));
    const resumedMs = Date.now() - fanoutKilledAt;
    for (const c of moved) {
      const welcome = c.frames.filter((f) => f.type === 'welcome').at(-1) as {
        resume?: { status: string };
      };
      expect(welcome.resume?.status).toBe('replayed');
    }

    // Then SIGKILL ingest 1; its agents fail over to ingest 2.
    await until(async () => (await alertCount()) >= 4 * RATE * 6, 20_000, 'more alerts');
    await i1.kill9();
    const ingestKilledAt = Date.now();
    await until(
      async () => {
        const rows = await hostRows();
        return movers.every((h) => rows.find((r) => r.host_id === h)?.stream_instance === id2);
      },
      10_000,
      'the movers held by ingest 2',
    );
    const failoverMs = Date.now() - ingestKilledAt;
    // Keep watching after the move: ten more samples of every mover (about a second).
    const sampledAtMove = moverSamples.length;
    await until(() => moverSamples.length >= sampledAtMove + 10 * movers.length, 20_000, 'samples');
    sampling = false;
    await sampler;
    // Online throughout the move, and still online after it.
    expect(moverSamples.length).toBeGreaterThan(10);
    expect(new Set(moverSamples)).toEqual(new Set(['online']));

    // Each demo exits 0 once the server has acknowledged everything it generated.
    const codes = await Promise.all(demos.map((d) => d.exited));
    expect(codes).toEqual([0, 0, 0, 0]);

    // Nothing lost, nothing twice: exactly rate × duration per agent, each alert once.
    const { rows: perHost } = await env.pool.query<{ host_id: string; n: string; ids: string }>(
      'SELECT host_id, count(*) AS n, count(DISTINCT alert_id) AS ids FROM alerts GROUP BY host_id',
    );
    expect(
      Object.fromEntries(perHost.map((r) => [r.host_id, [Number(r.n), Number(r.ids)]])),
    ).toEqual(Object.fromEntries(hostIds.map((h) => [h, [RATE * DURATION_S, RATE * DURATION_S]])));

    // Every client: every matching alert in the table, once, in order per host.
    const { rows: table } = await env.pool.query<{
      alert_id: string;
      host_id: string;
      severity: string;
      tripwire_type: string;
    }>('SELECT alert_id, host_id, severity::text, tripwire_type::text FROM alerts');
    const matches = (query: Record<string, string>, r: (typeof table)[number]) =>
      (!query.severity || query.severity.split(',').includes(r.severity)) &&
      (!query.type || query.type.split(',').includes(r.tripwire_type)) &&
      (!query.host_id || query.host_id.split(',').includes(r.host_id));
    // Acknowledged only once committed and published: nothing stored is missing from Redis,
    // not even what the killed ingest stored just before it died (checked in Redis itself).
    const { rows: ledger } = await env.pool.query<{ alert_id: string; received_at: Date }>(
      'SELECT alert_id::text, received_at FROM alerts',
    );
    const redis = createRedisClient(env.redisUrl);
    const onBus = (await redis.xrange(streamKey(env.keyPrefix), '-', '+'))
      .map(([, fields]) => fields.join('\n'))
      .join('\n');
    redis.disconnect();
    const neverPublished = ledger.filter((r) => !onBus.includes(r.alert_id));
    expect(neverPublished).toEqual([]);
    const expectedFor = (c: ClusterClient) =>
      table.filter((r) => matches(c.query, r)).map((r) => r.alert_id);
    const missing = (c: ClusterClient) => {
      const got = new Set(c.alerts().map((f) => f.data.alert_id));
      return expectedFor(c).filter((id) => !got.has(id));
    };
    await until(() => clients.every((c) => missing(c).length === 0), 15_000, 'every alert').catch(
      () => {},
    );
    expect(Object.fromEntries(clients.map((c) => [c.name, missing(c)]))).toEqual(
      Object.fromEntries(clients.map((c) => [c.name, []])),
    );
    for (const c of clients) {
      const expected = expectedFor(c);
      expect(expected.length).toBeGreaterThan(0);
      const received = c.alerts().map((f) => f.data.alert_id);
      expect(received.length, `${c.name}: no duplicates`).toBe(new Set(received).size);
      expect(new Set(received), `${c.name}: exactly the matching alerts`).toEqual(
        new Set(expected),
      );
      for (const h of hostIds) {
        const mine = c.alerts().filter((f) => f.data.host_id === h);
        for (let n = 1; n < mine.length; n++) {
          // Positions only grow, and so does each host's own clock (its outbox order).
          expect(BigInt(mine[n]!.position.split('-')[1]!)).toBeGreaterThan(
            BigInt(mine[n - 1]!.position.split('-')[1]!),
          );
          expect(mine[n]!.data.timestamp_us).toBeGreaterThanOrEqual(mine[n - 1]!.data.timestamp_us);
        }
      }
    }

    // The agents stopped (their client's stop()): every host is offline, and every client was
    // told once that it came online and once that it went offline, movers included.
    await until(
      async () =>
        (await hostRows())
          .filter((r) => hostIds.includes(r.host_id))
          .every((r) => r.status === 'offline'),
      10_000,
      'every host offline',
    );
    for (const c of clients) {
      await until(
        () => hostIds.every((h) => c.hostStatuses(h).at(-1) === 'offline'),
        10_000,
        `${c.name}'s offline frames`,
      );
      for (const h of hostIds)
        expect(c.hostStatuses(h), `${c.name} ${h}`).toEqual(['online', 'offline']);
    }

    closing = true;
    for (const c of clients) c.close();
    console.log(
      `cluster: ${table.length} alerts from 4 agents to 8 clients; fan-out SIGKILL → all resumed in ${resumedMs} ms; ingest SIGKILL → movers held by ingest 2 in ${failoverMs} ms; ${Date.now() - started} ms in all`,
    );
  }, 90_000);
});
