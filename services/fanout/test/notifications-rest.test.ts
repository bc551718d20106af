import { randomBytes, randomUUID } from 'node:crypto';
import { insertAlerts, upsertHost } from '@tripwire/storage';
import { freePort } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  callApi,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { HttpReceiver } from './notification-receivers.js';

const env = useEnvironment();
let fanout: RunningFanout;
let admin: string;
let viewer: string;
const receiver = new HttpReceiver();
let port: number;

beforeAll(async () => {
  fanout = await startFanout(env, {
    NOTIFY_POLL_MS: '20',
    NOTIFY_MAX_ATTEMPTS: '1',
    NOTIFY_BACKOFF_BASE_MS: '10',
    NOTIFY_ALLOW_PRIVATE_DESTINATIONS: 'true',
  });
  admin = await auth.issue('alice', 'admin');
  viewer = await auth.issue('vic', 'viewer');
  port = await freePort();
});
afterAll(async () => {
  await fanout?.stop();
  await receiver.close();
});

const api = (path: string, options: { token?: string; method?: string; body?: unknown } = {}) =>
  callApi(fanout.url, path, { token: admin, ...options });

const SECRET = 'do-not-show-this-hmac-key';

describe('notification routes and the dead letters over REST', () => {
  it('keeps routes to admins, refuses bad destinations, never shows a secret', async () => {
    const body = {
      name: 'soc-webhook',
      events: ['opened'],
      kind: 'webhook',
      config: { url: receiver.url(port) },
      secrets: { secret: SECRET },
    };
    expect((await api('/api/notification-routes', { token: viewer })).status).toBe(403);
    expect(
      (await api('/api/notification-routes', { method: 'POST', token: viewer, body })).status,
    ).toBe(403);
    const ftp = await api('/api/notification-routes', {
      method: 'POST',
      body: { ...body, config: { url: 'ftp://x/y' } },
    });
    expect(ftp.status).toBe(400);
    expect(ftp.body.error.fields).toEqual({
      'config.url': 'only http and https destinations are allowed',
    });
    const noKey = await api('/api/notification-routes', {
      method: 'POST',
      body: { ...body, secrets: {} },
    });
    expect(noKey.body.error.fields).toEqual({ 'secrets.secret': 'is required' });
    const badTemplate = await api('/api/notification-routes', {
      method: 'POST',
      body: { ...body, template: '{{#open' },
    });
    expect(badTemplate.status).toBe(400);

    const created = await api('/api/notification-routes', { method: 'POST', body });
    expect(created.status).toBe(201);
    expect(created.body.secrets_set).toEqual(['secret']);
    const id = created.body.route_id;
    // An update without secrets keeps the key.
    const renamed = await api(`/api/notification-routes/${id}`, {
      method: 'PUT',
      body: { ...body, name: 'soc', secrets: undefined },
    });
    expect(renamed.body).toMatchObject({ name: 'soc', secrets_set: ['secret'] });
    const everything = JSON.stringify([
      (await api('/api/notification-routes')).body,
      (await api(`/api/notification-routes/${id}`)).body,
      (await api('/api/audit?limit=1000')).body,
    ]);
    expect(everything).not.toContain(SECRET);
    expect(everything).toContain('notification_route.create');
  });

  it('shows a dead delivery, and a manual retry delivers it once the receiver is back', async () => {
    const host = await upsertHost(env.pool, {
      hostname: `host-${randomUUID().slice(0, 8)}`,
      platform: 'linux',
      agentVersion: '2.0',
      agentTokenHash: randomBytes(32),
    });
    await insertAlerts(env.pool, [
      {
        alertId: randomUUID(),
        hostId: host.hostId,
        occurredAtUs: Date.now() * 1000,
        tripwireType: 'FILE',
        severity: 'WARN',
        ruleName: 'etc-passwd-watch',
        eventDetailJson: '{"path":"/etc/passwd"}',
      },
    ]);
    // Nothing listens on the port: one attempt (NOTIFY_MAX_ATTEMPTS=1), refused, dead.
    let dead: { delivery_id: string; last_error: string }[] = [];
    await until(
      async () => {
        dead = (await api('/api/notification-deliveries?state=dead')).body.deliveries;
        return dead.length === 1;
      },
      10_000,
      'a dead delivery',
    );
    expect(dead[0]!.last_error).toMatch(/ECONNREFUSED/);
    expect(
      (
        await api(`/api/notification-deliveries/${dead[0]!.delivery_id}/retry`, {
          method: 'POST',
          token: viewer,
          body: {},
        })
      ).status,
    ).toBe(403);

    await receiver.listen(port);
    const retried = await api(`/api/notification-deliveries/${dead[0]!.delivery_id}/retry`, {
      method: 'POST',
      body: {},
    });
    expect(retried.status).toBe(200);
    await until(() => receiver.received.length === 1, 10_000, 'the retried delivery');
    expect(receiver.keys()).toEqual([dead[0]!.delivery_id]);
    const again = await api(`/api/notification-deliveries/${dead[0]!.delivery_id}/retry`, {
      method: 'POST',
      body: {},
    });
    expect(again.status).toBe(409);
    const audit = (await api('/api/audit?limit=1000')).body.entries as {
      action: string;
      target: string;
    }[];
    expect(
      audit.filter((e) => e.action === 'notification_delivery.retry').map((e) => e.target),
    ).toEqual([dead[0]!.delivery_id]);
  });
});
