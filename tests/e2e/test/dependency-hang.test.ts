// A dependency that hangs while staying connected, with real processes: readiness fails with
// the reason, agent streams end UNAVAILABLE (idle ones too), new ones are refused, the agent
// SDK reconnects with backoff and, once the dependency answers again (or on another ingest
// instance), every alert in its outbox arrives exactly once.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { AgentClient } from '@tripwire/agent-sdk';
import { BusSubscriber, createRedisClient } from '@tripwire/bus';
import { AlertServiceClient, Severity, TripwireType } from '@tripwire/proto';
import { freePort } from '@tripwire/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import {
  captureLog,
  draft,
  ENROLLMENT_TOKEN,
  metricValue,
  type RunningIngest,
  startIngest,
  storedAlertIds,
  until,
  useAgents,
  useEnvironment,
} from './agent-harness.js';

const env = useEnvironment();
const agents = useAgents();
const backoff = { initialMs: 100, maxMs: 400 };
const running: RunningIngest[] = [];
afterAll(() => Promise.all(running.map((r) => r.stop())));

// Short bounds, so the hang is declared in about a second.
const FAST_HANG = {
  PG_STATEMENT_TIMEOUT_MS: '500',
  REDIS_COMMAND_TIMEOUT_MS: '300',
  DEPENDENCY_HUNG_AFTER_MS: '300',
  DEPENDENCY_PROBE_INTERVAL_MS: '300',
  BATCH_MAX_DELAY_MS: '5',
};

async function readiness(ingest: RunningIngest) {
  const res = await fetch(`${ingest.httpUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, unknown> } };
}

/** The agent logged a stream that ended UNAVAILABLE with these details. */
const endedUnavailable = (log: ReturnType<typeof captureLog>, details: RegExp) =>
  log.entries().some((e) => e.code === 'UNAVAILABLE' && details.test(String(e.details)));

async function startAgent(server: string, hostname: string) {
  const log = captureLog(hostname);
  const client = agents.create({
    server,
    stateDir: await agents.stateDir(),
    enrollmentToken: ENROLLMENT_TOKEN,
    hostname,
    backoff,
    log: log.log,
  });
  await client.start();
  await until(() => client.stats().connected, 10_000, `${hostname} connected`);
  return { client, log };
}

const enqueue = async (client: AgentClient, n: number, from = 0) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await client.enqueue(draft(from + i)));
  return ids;
};

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

/** A host registered over raw gRPC, and SubmitAlert for it: the call's error, if any. */
async function rawAgent(ingest: RunningIngest, hostname: string) {
  const client = new AlertServiceClient(ingest.address, credentials.createInsecure());
  const { hostId, agentToken } = await new Promise<{ hostId: string; agentToken: string }>(
    (resolve, reject) =>
      client.registerAgent(
        { hostname, platform: 'linux', agentVersion: '1' },
        bearer(ENROLLMENT_TOKEN),
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
  );
  const submit = () =>
    new Promise<ServiceError | null>((resolve) =>
      client.submitAlert(
        {
          alertId: crypto.randomUUID(),
          hostId,
          tripwireType: TripwireType.FILE,
          severity: Severity.WARN,
          timestampUs: Date.now() * 1000,
          ruleName: 'hang-probe',
          eventDetailJson: '{}',
        },
        bearer(agentToken),
        (err) => resolve(err),
      ),
    );
  return { submit, close: () => client.close() };
}

const expectStoredOnce = async (ids: string[]) => {
  const stored = await storedAlertIds(env, ids);
  expect(stored.length).toBe(ids.length);
  expect(new Set(stored)).toEqual(new Set(ids));
};

describe('PostgreSQL hangs (a lock the alert flush needs, held by another session)', () => {
  it('fails readiness, ends every agent stream UNAVAILABLE, and takes the outboxes in once the lock goes', async () => {
    const ingest = await startIngest(env, FAST_HANG);
    running.push(ingest);
    const busy = await startAgent(ingest.address, 'hang-pg-busy');
    const idle = await startAgent(ingest.address, 'hang-pg-idle');
    const before = await enqueue(busy.client, 5);
    expect(await busy.client.flush(10_000)).toBe(true);
    const unary = await rawAgent(ingest, 'hang-pg-unary');

    const locker = await env.pool.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE');
    let during: string[] = [];
    try {
      during = await enqueue(busy.client, 20, 100);
      await until(
        async () => (await readiness(ingest)).status === 503,
        15_000,
        'readiness to fail',
      );
      const { body } = await readiness(ingest);
      expect(body.checks.postgres_hung).toMatch(
        /^not answering in time since .+ \(alert_flush: statement timeout \(57014\)\)$/,
      );
      expect(body.checks.redis_hung).toBe(false);
      // The idle agent had nothing in flight: its stream was ended all the same.
      await until(
        () => endedUnavailable(idle.log, /cannot use PostgreSQL: not answering in time since/),
        10_000,
        'the idle stream to end UNAVAILABLE',
      );
      await until(
        () => endedUnavailable(busy.log, /connect to another ingest instance/),
        10_000,
        'the busy agent to be refused UNAVAILABLE',
      );
      expect(
        await metricValue(
          ingest,
          'tripwire_ingest_dependency_timeouts_total{dependency="postgres",operation="alert_flush"}',
        ),
      ).toBeGreaterThanOrEqual(1);
      expect(
        await metricValue(ingest, 'tripwire_ingest_dependency_hung{dependency="postgres"}'),
      ).toBe(1);
      expect(busy.client.stats().queued).toBeGreaterThan(0);
      // New calls are refused at once with the reason, not left to run into the statement timeout.
      const refused = await unary.submit();
      expect(refused?.code).toBe(status.UNAVAILABLE);
      expect(refused?.details).toMatch(
        /^this ingest instance cannot use PostgreSQL: not answering/,
      );
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }

    await until(async () => (await readiness(ingest)).status === 200, 15_000, 'readiness back');
    const after = await enqueue(busy.client, 5, 200);
    expect(await busy.client.flush(20_000)).toBe(true);
    await expectStoredOnce([...before, ...during, ...after]);
    expect(
      await metricValue(ingest, 'tripwire_ingest_dependency_hung{dependency="postgres"}'),
    ).toBe(0);
    expect(await unary.submit()).toBeNull();
    unary.close();
    await until(() => idle.client.stats().connected, 10_000, 'the idle agent back');
    expect(idle.client.stats().reconnects).toBeGreaterThanOrEqual(1);
  });
});

/**
 * A relay to PostgreSQL whose connections can hang: nothing is read or forwarded (bytes wait
 * in the kernel, nothing is closed), as with a stopped server or a silent network path, where
 * statement_timeout never fires. `resume` lets everything through again, intact.
 */
async function hangingProxy(databaseUrl: string) {
  const target = new URL(databaseUrl);
  const links: Socket[][] = [];
  let hung = false;
  const setHung = (sockets: Socket[]) => {
    for (const s of sockets)
      if (hung) s.pause();
      else s.resume();
  };
  const server = createServer((client) => {
    const upstream = netConnect(Number(target.port || 5432), target.hostname);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => client.write(d));
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    links.push([client, upstream]);
    setHung([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as { port: number }).port);
  return {
    url: proxied.toString(),
    hang() {
      hung = true;
      for (const link of links) setHung(link);
    },
    resume() {
      hung = false;
      for (const link of links) setHung(link);
    },
    close() {
      for (const link of links) for (const s of link) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('PostgreSQL stops answering altogether (its connections hang: no statement timeout ever fires)', () => {
  it('notices the stalled flush, sends the agent to another instance, and recovers when it answers', async () => {
    const proxy = await hangingProxy(env.databaseUrl);
    const a = await startIngest(env, { ...FAST_HANG, DATABASE_URL: proxy.url });
    const b = await startIngest(env, FAST_HANG);
    running.push(a, b);
    const agent = await startAgent(`${a.address},${b.address}`, 'hang-pg-silent');
    const before = await enqueue(agent.client, 5);
    expect(await agent.client.flush(10_000)).toBe(true);

    proxy.hang();
    let during: string[] = [];
    try {
      during = await enqueue(agent.client, 20, 100);
      await until(
        () => endedUnavailable(agent.log, /cannot use PostgreSQL: not answering in time since/),
        15_000,
        'the stream on A to end UNAVAILABLE',
      );
      const { status, body } = await readiness(a);
      expect(status).toBe(503);
      expect(body.checks.database).toBe(false);
      expect(body.checks.postgres_hung).toMatch(
        /alert_flush: alerts waited \d+ ms and no flush finished/,
      );
      // B took the agent: everything it had is stored while A's PostgreSQL is still silent.
      expect(await agent.client.flush(20_000)).toBe(true);
      await expectStoredOnce([...before, ...during]);
    } finally {
      proxy.resume();
    }
    await until(async () => (await readiness(a)).status === 200, 15_000, 'A ready again');
    expect(await metricValue(a, 'tripwire_ingest_dependency_hung{dependency="postgres"}')).toBe(0);
    await a.stop();
    await proxy.close();
  });
});

describe('Redis hangs (SIGSTOP of a redis-server of this test)', () => {
  let redis: ChildProcess | undefined;
  afterAll(() => {
    redis?.kill('SIGCONT');
    redis?.kill('SIGKILL');
  });

  it('sends the agent to another ingest instance, and comes back when Redis answers', async () => {
    const port = await freePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
      stdio: 'ignore',
    });
    const probe = createRedisClient(redisUrl);
    await until(
      async () => (await probe.ping().catch(() => '')) === 'PONG',
      10_000,
      'redis-server',
    );
    probe.disconnect();
    // A publishes to the Redis that will hang; B to the shared one.
    const a = await startIngest(env, { ...FAST_HANG, REDIS_URL: redisUrl });
    const b = await startIngest(env, FAST_HANG);
    running.push(a, b);
    const published = new Set<string>();
    const reader = new BusSubscriber({
      redis: createRedisClient(redisUrl),
      keyPrefix: env.keyPrefix,
      from: '0-0',
      blockMs: 200,
      onEntries: (entries) => {
        for (const { message } of entries)
          if (message.type === 'alert') published.add(message.data.alert_id);
      },
    });
    reader.start();
    const agent = await startAgent(`${a.address},${b.address}`, 'hang-redis-01');
    const before = await enqueue(agent.client, 5);
    expect(await agent.client.flush(10_000)).toBe(true);

    redis.kill('SIGSTOP');
    let during: string[] = [];
    try {
      during = await enqueue(agent.client, 20, 100);
      await until(async () => (await readiness(a)).status === 503, 15_000, 'A not ready');
      expect((await readiness(a)).body.checks.redis_hung).toMatch(/^not answering in time since /);
      await until(
        () => endedUnavailable(agent.log, /cannot use Redis: not answering in time since/),
        10_000,
        'the stream on A to end UNAVAILABLE',
      );
      // On B, every alert is stored (and published on B's Redis) while A's Redis is still stopped.
      expect(await agent.client.flush(20_000)).toBe(true);
      await expectStoredOnce([...before, ...during]);
      expect(
        await metricValue(
          a,
          'tripwire_ingest_dependency_timeouts_total{dependency="redis",operation="publish"}',
        ),
      ).toBeGreaterThanOrEqual(1);
      expect((await readiness(b)).status).toBe(200);
    } finally {
      redis.kill('SIGCONT');
    }
    await until(async () => (await readiness(a)).status === 200, 15_000, 'A ready again');
    expect(await metricValue(a, 'tripwire_ingest_dependency_hung{dependency="redis"}')).toBe(0);
    // What A stored before the hang reached its Redis.
    await until(() => before.every((id) => published.has(id)), 10_000, 'A publishing again');
    await reader.stop();
  });
});
