// The Notifications page in a real browser, against the real fan-out (see dashboard-harness.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import { insertAlerts, upsertHost } from '@tripwire/storage';
import { freePort } from '@tripwire/test-fixtures';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, callApi, JWT_SECRET, until, useEnvironment } from '../fanout-harness.js';
import { HttpReceiver } from '../notification-receivers.js';
import { FanoutProcess, launchChromium, signIn } from './dashboard-harness.js';

const env = useEnvironment();
let fanout: FanoutProcess;
let browser: Browser;
const receiver = new HttpReceiver();

beforeAll(async () => {
  fanout = await FanoutProcess.create(env, JWT_SECRET, {
    NOTIFY_POLL_MS: '20',
    NOTIFY_MAX_ATTEMPTS: '1',
    NOTIFY_ALLOW_PRIVATE_DESTINATIONS: 'true',
  });
  await fanout.start();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await fanout?.stop();
  await receiver.close();
});

describe('Notifications page', () => {
  it('lists a dead delivery, and Retry delivers it once the receiver is back', async () => {
    const admin = await auth.issue('ada', 'admin');
    const port = await freePort();
    const created = await callApi(fanout.url, '/api/notification-routes', {
      token: admin,
      method: 'POST',
      body: {
        name: 'soc-webhook',
        events: ['opened'],
        kind: 'webhook',
        config: { url: receiver.url(port) },
        secrets: { secret: 'k' },
      },
    });
    expect(created.status).toBe(201);
    const host = await upsertHost(env.pool, {
      hostname: `web-${randomUUID().slice(0, 8)}`,
      platform: 'linux',
      agentVersion: '1',
      agentTokenHash: randomBytes(32),
    });
    await insertAlerts(env.pool, [
      {
        alertId: randomUUID(),
        hostId: host.hostId,
        occurredAtUs: Date.now() * 1000,
        tripwireType: 'FILE',
        severity: 'CRITICAL',
        ruleName: 'etc-passwd-watch',
        eventDetailJson: '{}',
      },
    ]);
    // Nothing listens yet: one refused attempt, dead.
    await until(
      async () =>
        (await env.pool.query("SELECT 1 FROM notification_deliveries WHERE state = 'dead'"))
          .rowCount === 1,
      10_000,
      'a dead delivery',
    );
    const page = await (await browser.newContext()).newPage();
    await signIn(page, fanout.url, admin, '/notifications');
    await expect
      .poll(() => page.getByTestId('notification-routes').textContent())
      .toContain('soc-webhook');
    const row = page.getByTestId('dead-deliveries').locator('tr[data-delivery-id]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('ECONNREFUSED');

    const deliveryId = await row.getAttribute('data-delivery-id');
    await receiver.listen(port);
    await row.getByRole('button', { name: 'Retry' }).click();
    await until(() => receiver.received.length === 1, 10_000, 'the retried notification');
    expect(receiver.keys()).toEqual([deliveryId]);
    await expect
      .poll(() => page.getByTestId('dead-deliveries').textContent())
      .toContain('No dead deliveries.');
  });
});
