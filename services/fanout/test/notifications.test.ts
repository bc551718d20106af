import { createHmac, randomUUID } from 'node:crypto';
import { createLogger } from '@tripwire/logger';
import * as storage from '@tripwire/storage';
import {
  createNotificationRoute,
  insertAlerts,
  listDeliveries,
  type NotificationRouteInput,
  resolveIncident,
  upsertHost,
} from '@tripwire/storage';
import { freePort, until, useTestEnvironment } from '@tripwire/test-fixtures';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotificationMetrics } from '../src/notify/notification-metrics.js';
import {
  createNotificationWorker,
  type NotificationWorkerSettings,
} from '../src/notify/notification-worker.js';
import { HttpReceiver, startSmtpReceiver } from './notification-receivers.js';

const env = useTestEnvironment(storage);
const log = createLogger({ name: 'notify-test', level: 'silent' });

const settings: NotificationWorkerSettings = {
  pollMs: 20,
  batchSize: 50,
  leaseS: 30,
  maxAttempts: 10_000,
  maxAgeS: 3600,
  backoffBaseS: 0.05,
  backoffMaxS: 0.2,
  send: { timeoutMs: 2000, allowPrivate: true, maxResponseBytes: 65_536 },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startWorker(over: Partial<NotificationWorkerSettings> = {}) {
  const registry = new Registry();
  const worker = createNotificationWorker({
    pool: env.pool,
    log,
    metrics: createNotificationMetrics([registry], env.pool),
    settings: { ...settings, ...over },
  });
  worker.start();
  cleanups.push(() => worker.stop());
  return { worker, registry };
}

async function receiver(port = 0) {
  const r = new HttpReceiver();
  const p = await r.listen(port);
  cleanups.push(() => r.close());
  return { r, port: p };
}

async function newHost() {
  return upsertHost(env.pool, {
    hostname: `web-${randomUUID().slice(0, 8)}`,
    platform: 'linux',
    agentVersion: '1.0.0',
    agentTokenHash: Buffer.from(randomUUID()),
  });
}

/** Opens one incident per rule name on the host (one alert each). */
async function openIncidents(hostId: string, n: number, rule = 'rule-') {
  for (let i = 0; i < n; i++)
    await insertAlerts(env.pool, [
      {
        alertId: randomUUID(),
        hostId,
        occurredAtUs: Date.now() * 1000,
        tripwireType: 'FILE',
        severity: 'WARN',
        ruleName: `${rule}${i}`,
        eventDetailJson: '{"path":"/etc/passwd"}',
      },
    ]);
}

const route = (hostId: string, over: Partial<NotificationRouteInput>) =>
  createNotificationRoute(
    env.pool,
    {
      name: `route-${randomUUID().slice(0, 8)}`,
      enabled: true,
      events: ['opened', 'escalated', 'resolved'],
      minSeverity: 'INFO',
      hostIds: [hostId],
      tripwireTypes: null,
      ruleNames: null,
      kind: 'webhook',
      config: {},
      secrets: {},
      template: null,
      throttlePerMinute: null,
      ...over,
    },
    'alice',
  );

const states = async (routeId: string) =>
  (await listDeliveries(env.pool, { routeId, limit: 1000 })).map((d) => d.state);
const allDelivered = (routeId: string, n: number) => async () => {
  const s = await states(routeId);
  return s.length === n && s.every((x) => x === 'delivered');
};

describe('each destination gets an opened incident once', () => {
  it('webhook (signed), Slack, PagerDuty (trigger then resolve) and e-mail over SMTP', async () => {
    const host = await newHost();
    const hook = await receiver();
    const slack = await receiver();
    const pd = await receiver();
    const smtp = await startSmtpReceiver();
    cleanups.push(smtp.close);
    const secret = 'hmac-key-for-test';
    await route(host.hostId, {
      kind: 'webhook',
      config: { url: hook.r.url(hook.port) },
      secrets: { secret },
    });
    await route(host.hostId, {
      kind: 'slack',
      secrets: { webhook_url: slack.r.url(slack.port, '/services/T/B/X') },
      template: '*{{rule_name}}* on {{hostname}}',
    });
    await route(host.hostId, {
      kind: 'pagerduty',
      config: { url: pd.r.url(pd.port, '/v2/enqueue') },
      secrets: { routing_key: 'R0UTINGKEY' },
    });
    await route(host.hostId, {
      kind: 'email',
      config: {
        host: '127.0.0.1',
        port: smtp.port,
        from: 'tripwire@example.org',
        to: ['soc@example.org'],
      },
    });
    startWorker();
    await openIncidents(host.hostId, 1, 'a<b>&c-');
    await until(
      () =>
        hook.r.received.length +
          slack.r.received.length +
          pd.r.received.length +
          smtp.mails.length >=
        4,
      10_000,
      'one message at each destination',
    );
    const [{ incident_id }] = (
      await env.pool.query('SELECT incident_id FROM incidents WHERE host_id = $1', [host.hostId])
    ).rows;

    const [w] = hook.r.received;
    const ts = String(w!.headers['x-tripwire-timestamp']);
    const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${w!.raw}`).digest('hex')}`;
    expect(w!.headers['x-tripwire-signature']).toBe(expected);
    expect(w!.body).toMatchObject({
      digest: false,
      events: [{ event: 'opened', incident_id, hostname: host.hostname, rule_name: 'a<b>&c-0' }],
    });
    expect(w!.headers['idempotency-key']).toBe(w!.body.idempotency_key);
    expect(slack.r.received[0]!.body).toEqual({ text: `*a&lt;b&gt;&amp;c-0* on ${host.hostname}` });
    expect(pd.r.received[0]!.body).toMatchObject({
      routing_key: 'R0UTINGKEY',
      event_action: 'trigger',
      dedup_key: `tripwire-${incident_id}`,
      payload: { severity: 'warning', source: host.hostname },
    });
    expect(smtp.mails[0]!.to).toEqual(['soc@example.org']);
    expect(smtp.mails[0]!.data).toContain(`Incident opened on ${host.hostname}`);

    await resolveIncident(
      env.pool,
      incident_id,
      { resolutionMethod: 'MANUAL', rootCause: 'patched' },
      { actor: 'alice' },
    );
    await until(
      () => pd.r.received.length === 2 && hook.r.received.length === 2,
      10_000,
      'the resolve at PagerDuty and the webhook',
    );
    expect(pd.r.received[1]!.body).toEqual({
      routing_key: 'R0UTINGKEY',
      event_action: 'resolve',
      dedup_key: `tripwire-${incident_id}`,
    });
    // Exactly once each: nothing more arrives for the opened event.
    expect(hook.r.received).toHaveLength(2);
    expect(new Set(hook.r.keys()).size).toBe(2);
  });
});

describe('delivery when things go wrong', () => {
  it('a receiver refusing connections for a while gets every notification exactly once when back', async () => {
    const host = await newHost();
    const port = await freePort();
    const hook = new HttpReceiver();
    cleanups.push(() => hook.close());
    const r = await route(host.hostId, {
      config: { url: hook.url(port) },
      secrets: { secret: 's' },
    });
    startWorker();
    await openIncidents(host.hostId, 5);
    // Down: every row is attempted and refused at least twice (backed off, not dead).
    await until(
      async () =>
        (await listDeliveries(env.pool, { routeId: r.routeId, limit: 10 })).every(
          (d) => d.attempts >= 2 && d.lastError !== null && d.state !== 'dead',
        ),
      15_000,
      'refused attempts',
    );
    await hook.listen(port);
    await until(allDelivered(r.routeId, 5), 15_000, 'all delivered after the receiver came back');
    expect(hook.received).toHaveLength(5);
    expect(new Set(hook.keys()).size).toBe(5);
  });

  it('two workers never send one event twice', async () => {
    const host = await newHost();
    const hook = await receiver();
    const r = await route(host.hostId, {
      config: { url: hook.r.url(hook.port) },
      secrets: { secret: 's' },
    });
    await openIncidents(host.hostId, 40);
    startWorker({ batchSize: 5 });
    startWorker({ batchSize: 5 });
    await until(allDelivered(r.routeId, 40), 20_000, 'all 40 delivered');
    expect(hook.r.received).toHaveLength(40);
    expect(new Set(hook.r.keys()).size).toBe(40);
  });

  it('folds what is over a throttled route budget into one digest', async () => {
    const host = await newHost();
    const hook = await receiver();
    const r = await route(host.hostId, {
      config: { url: hook.r.url(hook.port) },
      secrets: { secret: 's' },
      throttlePerMinute: 2,
    });
    await openIncidents(host.hostId, 6);
    startWorker();
    await until(allDelivered(r.routeId, 6), 10_000, 'all 6 delivered');
    expect(hook.r.received).toHaveLength(2);
    const digest = hook.r.received.find((m) => m.body.digest === true);
    expect(digest?.body.events).toHaveLength(5);
    expect(String(digest?.body.text)).toMatch(/^5 notifications for route-/);
    const events = hook.r.received.flatMap((m) => m.body.events as { idempotency_key: string }[]);
    expect(new Set(events.map((e) => e.idempotency_key)).size).toBe(6);
  });

  it('dead-letters a destination that redirects, never follows it, and counts the outcome', async () => {
    const host = await newHost();
    const target = await receiver();
    const hook = await receiver();
    hook.r.answer = { status: 302, headers: { location: target.r.url(target.port) } };
    const r = await route(host.hostId, {
      config: { url: hook.r.url(hook.port) },
      secrets: { secret: 's' },
    });
    const { registry } = startWorker({ maxAttempts: 2 });
    await openIncidents(host.hostId, 1);
    await until(async () => (await states(r.routeId))[0] === 'dead', 10_000, 'dead letter');
    const [dead] = await listDeliveries(env.pool, { routeId: r.routeId, limit: 1 });
    expect(dead?.lastError).toBe('redirect (302) refused');
    expect(target.r.received).toHaveLength(0);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(
      /tripwire_notification_deliveries_total\{kind="webhook",outcome="dead"\} 1/,
    );
    expect(metrics).toMatch(/tripwire_notification_dead \d/);
  });

  it('refuses private addresses unless allowed, and times out a receiver that never answers', async () => {
    const host = await newHost();
    const hook = await receiver();
    const r = await route(host.hostId, {
      config: { url: hook.r.url(hook.port) },
      secrets: { secret: 's' },
    });
    const silent = await receiver();
    silent.r.answer = null;
    const s = await route(host.hostId, {
      config: { url: silent.r.url(silent.port) },
      secrets: { secret: 's' },
    });
    startWorker({
      maxAttempts: 1,
      send: { ...settings.send, allowPrivate: false, timeoutMs: 300 },
    });
    await openIncidents(host.hostId, 1);
    await until(async () => (await states(r.routeId))[0] === 'dead', 10_000, 'refused');
    const [refused] = await listDeliveries(env.pool, { routeId: r.routeId, limit: 1 });
    expect(refused?.lastError).toBe('refused: 127.0.0.1 is a private address');
    expect(hook.r.received).toHaveLength(0);
    await until(async () => (await states(s.routeId))[0] === 'dead', 10_000, 'timed out');
    expect(silent.r.received).toHaveLength(0);
  });
});
