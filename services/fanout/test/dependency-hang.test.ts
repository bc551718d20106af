// A dependency that hangs while staying connected, with real processes: the fan-out's
// readiness fails with the reason, every browser gets a `degraded` frame (one connecting
// during the hang too), then `recovered`; REST answers 503 database_timeout; metrics count.
import { type ChildProcess, spawn } from 'node:child_process';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { freePort } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  callApi,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
const running: RunningFanout[] = [];
const browsers: Browser[] = [];
afterAll(async () => {
  for (const b of browsers) b.close();
  await Promise.all(running.map((f) => f.stop()));
});

// Short bounds, so a hang is declared in about a second.
const FAST_HANG = {
  BUS_READ_BLOCK_MS: '200',
  REDIS_COMMAND_TIMEOUT_MS: '300',
  PG_STATEMENT_TIMEOUT_MS: '300',
  DEPENDENCY_HUNG_AFTER_MS: '300',
  DEPENDENCY_PROBE_INTERVAL_MS: '300',
};

async function readiness(fanout: RunningFanout) {
  const res = await fetchDocumented(`${fanout.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, unknown> } };
}

async function metric(fanout: RunningFanout, sample: string): Promise<number> {
  const text = await (await fetch(fanout.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function connectBrowser(fanout: RunningFanout, token: string): Promise<Browser> {
  const b = new Browser(fanout.wsUrl, { token });
  browsers.push(b);
  await b.opened;
  await until(() => b.ofType('welcome').length === 1, 10_000, 'welcome');
  return b;
}

describe('Redis hangs (SIGSTOP of a redis-server of this test)', () => {
  let redis: ChildProcess | undefined;
  afterAll(() => {
    redis?.kill('SIGCONT');
    redis?.kill('SIGKILL');
  });

  it('tells every browser `degraded` then `recovered`, fails readiness meanwhile, and delivers again', async () => {
    const port = await freePort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
      stdio: 'ignore',
    });
    const client: Redis = createRedisClient(redisUrl, { failFastWhileDisconnected: true });
    await until(async () => (await client.ping().catch(() => '')) === 'PONG', 10_000, 'redis');
    const publisher = new BusPublisher({ redis: client, keyPrefix: env.keyPrefix });
    const fanout = await startFanout(env, FAST_HANG, redisUrl);
    running.push(fanout);
    const viewer = await auth.issue('hang-viewer', 'viewer');
    const before = await connectBrowser(fanout, viewer);
    expect((await readiness(fanout)).status).toBe(200);

    redis.kill('SIGSTOP');
    let during: Browser;
    try {
      await until(() => before.ofType('degraded').length === 1, 15_000, 'a degraded frame');
      expect(before.ofType('degraded')[0]).toEqual({
        type: 'degraded',
        dependency: 'redis',
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        reason: expect.stringMatching(/^xread: Redis did not answer/),
        effect: expect.stringContaining('live alerts'),
      });
      const { status, body } = await readiness(fanout);
      expect(status).toBe(503);
      expect(body.checks.redis_hung).toMatch(/^not answering in time since .+\(xread: /);
      expect(body.checks.postgres_hung).toBe(false);
      // A browser arriving during the hang is told right after its welcome.
      during = await connectBrowser(fanout, viewer);
      await until(() => during.ofType('degraded').length === 1, 10_000, 'degraded on arrival');
      expect(during.ofType('degraded')[0]).toMatchObject({
        dependency: 'redis',
        since: before.ofType('degraded')[0]!.since,
      });
      expect(
        await metric(
          fanout,
          'tripwire_fanout_dependency_timeouts_total{dependency="redis",operation="xread"}',
        ),
      ).toBeGreaterThanOrEqual(1);
      expect(await metric(fanout, 'tripwire_fanout_dependency_hung{dependency="redis"}')).toBe(1);
    } finally {
      redis.kill('SIGCONT');
    }

    for (const b of [before, during]) {
      await until(() => b.ofType('recovered').length === 1, 15_000, 'a recovered frame');
      expect(b.ofType('recovered')[0]).toEqual({
        type: 'recovered',
        dependency: 'redis',
        since: before.ofType('degraded')[0]!.since,
        recovered_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    }
    expect(before.frames.findIndex((f) => f.type === 'degraded')).toBeLessThan(
      before.frames.findIndex((f) => f.type === 'recovered'),
    );
    await until(async () => (await readiness(fanout)).status === 200, 15_000, 'ready again');
    const alert = alertData();
    publisher.publish([{ type: 'alert', data: alert }]);
    await until(() => before.alertIds().includes(alert.alert_id), 10_000, 'live delivery');
    expect(await metric(fanout, 'tripwire_fanout_dependency_hung{dependency="redis"}')).toBe(0);
    publisher.close();
    client.disconnect();
  });
});

describe('PostgreSQL hangs (a lock on alerts, held by another session)', () => {
  it('answers REST 503 database_timeout, tells browsers, fails readiness, and recovers when the lock goes', async () => {
    const fanout = await startFanout(env, FAST_HANG);
    running.push(fanout);
    const viewer = await auth.issue('hang-viewer-pg', 'viewer');
    const b = await connectBrowser(fanout, viewer);
    expect((await callApi(fanout.url, '/api/alerts', { token: viewer })).status).toBe(200);

    const locker = await env.pool.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE');
    try {
      const answer = await callApi(fanout.url, '/api/alerts', { token: viewer });
      expect(answer.status).toBe(503);
      expect(answer.body.error).toMatchObject({ code: 'database_timeout', retry_after_s: 5 });
      expect(answer.headers.get('retry-after')).toBe('5');
      await until(() => b.ofType('degraded').length === 1, 15_000, 'a degraded frame');
      expect(b.ofType('degraded')[0]).toMatchObject({
        dependency: 'postgres',
        reason: 'rest: statement timeout (57014)',
        effect: expect.stringContaining('503 database_timeout'),
      });
      const { status, body } = await readiness(fanout);
      expect(status).toBe(503);
      expect(body.checks.postgres_hung).toMatch(/^not answering in time since /);
      expect(
        await metric(
          fanout,
          'tripwire_fanout_dependency_timeouts_total{dependency="postgres",operation="rest"}',
        ),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }
    await until(() => b.ofType('recovered').length === 1, 15_000, 'a recovered frame');
    expect(b.ofType('recovered')[0]).toMatchObject({ dependency: 'postgres' });
    await until(async () => (await readiness(fanout)).status === 200, 15_000, 'ready again');
    expect((await callApi(fanout.url, '/api/alerts', { token: viewer })).status).toBe(200);
  });
});
