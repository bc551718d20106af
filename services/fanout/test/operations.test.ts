import { proxyFor, within } from '@tripwire/test-fixtures';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let viewer: string;
beforeAll(async () => {
  viewer = await auth.issue('otto', 'viewer');
});

describe('metrics', () => {
  it('exposes the operations metrics', async () => {
    const fanout = await startFanout(env);
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    publishAlerts(env, [alertData()]);
    await until(() => b.alerts().length === 1);
    const text = await (await fetch(fanout.metricsUrl)).text();
    for (const name of [
      'tripwire_fanout_connections 1',
      'tripwire_fanout_bus_messages_total{type="alert"}',
      'tripwire_fanout_frames_sent_total',
      'tripwire_fanout_slow_consumer_closes_total',
      'tripwire_fanout_resumes_total',
      'tripwire_fanout_delivery_latency_seconds_bucket',
    ]) {
      expect(text).toContain(name);
    }
    b.close();
    await fanout.stop();
  });
});

describe('Redis subscription', () => {
  it('backfills what was published while the subscription was down, and /readyz reflects delivery', async () => {
    const proxy = await proxyFor(env.redisUrl);
    const fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, proxy.url(env.redisUrl));
    try {
      await until(
        async () => (await fetchDocumented(`${fanout.url}/readyz`)).status === 200,
        10_000,
        'ready',
      );
      const b = new Browser(fanout.wsUrl, { token: viewer });
      await b.opened;
      await until(() => b.ofType('welcome').length === 1, 10_000, 'welcome');
      const before = alertData();
      publishAlerts(env, [before]);
      await until(() => b.alerts().length === 1, 10_000, 'first alert');

      proxy.cut();
      const during = Array.from({ length: 20 }, () => alertData());
      publishAlerts(env, during);
      await env.publisher.drain();
      await until(
        async () => (await fetchDocumented(`${fanout.url}/readyz`)).status === 503,
        10_000,
        'not ready',
      );
      const report = (await (await fetchDocumented(`${fanout.url}/readyz`)).json()) as {
        checks: unknown;
      };
      expect(report.checks).toMatchObject({ redis_delivery: false, database: true });

      proxy.restore();
      await until(() => b.alerts().length === 21, 15_000, 'backfill');
      expect(b.alertIds()).toEqual([before, ...during].map((a) => a.alert_id));
      await until(
        async () => (await fetchDocumented(`${fanout.url}/readyz`)).status === 200,
        10_000,
        'ready again',
      );
      b.close();
    } finally {
      await fanout.stop();
      await proxy.close();
    }
  });
});

// Stopping a uWebSockets.js app can leave later apps in the same process unable to send
// (uWebSockets.js 20.30); tests that stop a server come last in their file.
describe('graceful shutdown', () => {
  it('fails readiness, closes the listener, sends closing with a reconnect close code, and exits in bounded time', async () => {
    const fanout = await startFanout(env);
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    await until(() => b.ofType('welcome').length === 1);
    // A bound far above the drain it waits for: failing it means stop() hangs, not slowness.
    await within(fanout.stop(), 20_000, 'fanout.stop()');
    const closed = await b.closed;
    expect(b.ofType('closing')).toEqual([
      { type: 'closing', reason: expect.stringMatching(/reconnect/) },
    ]);
    expect(closed.code).toBe(1012);
    await expect(fetch(`${fanout.url}/readyz`)).rejects.toThrow();
    const late = new Browser(fanout.wsUrl, { token: viewer });
    await expect(late.opened).rejects.toThrow();
  });
});
