// The Enrollment page in a real browser, against the real services (see dashboard-harness.ts).
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, JWT_SECRET, useEnvironment } from '../fanout-harness.js';
import {
  ENROLLMENT_TOKEN,
  FanoutProcess,
  launchChromium,
  screenshot,
  signIn,
  startIngest,
} from './dashboard-harness.js';

const env = useEnvironment();
let fanout: FanoutProcess;
let ingest: Awaited<ReturnType<typeof startIngest>>;
let browser: Browser;

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await fanout?.stop();
  await ingest?.stop();
});

function register(hostname: string, token: string, key?: string) {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  if (key) m.set('x-tripwire-enrollment-key', key);
  return new Promise<{ hostId: string }>((resolve, reject) =>
    ingest.client.registerAgent(
      { hostname, platform: 'linux', agentVersion: '1' },
      m,
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

describe('Enrollment page', () => {
  it('an admin creates a token (shown once), agents enroll with it, and the admin revokes it', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, fanout.url, await auth.issue('ada', 'admin'), '/enrollment');
    const form = page.getByRole('form', { name: 'New enrollment token' });
    await form.getByLabel('Name', { exact: true }).fill('web fleet');
    await form.getByLabel('Uses').fill('5');
    await form.getByLabel(/^Hostnames/).fill('web-*');
    await form.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-token-value').textContent())?.trim() ?? '';
    expect(token).toMatch(/^twe_[A-Za-z0-9_-]{43}$/);
    const row = page.locator('[data-token-name="web fleet"]');
    await expect.poll(() => row.textContent()).toContain('0 / 5');

    expect((await register('web-31', token)).hostId).toBeTruthy();
    await page.reload();
    await expect.poll(() => row.textContent()).toContain('1 / 5');
    // The token is not on the page any more after a reload.
    expect(await page.content()).not.toContain(token);
    await screenshot(page, '20-enrollment-tokens');

    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Confirm revoke' }).click();
    await expect.poll(() => row.getByTestId('token-status').textContent()).toBe('revoked');
    const refused = await register('web-32', token).catch((e: ServiceError) => e.code);
    expect(refused).toBe(status.UNAUTHENTICATED);
    await context.close();
  });

  it('an admin approves a pending re-enrollment; viewers do not see the page', async () => {
    await register('app-41', ENROLLMENT_TOKEN);
    const key = 'browser-test-requester-key-0123';
    const code = await register('app-41', ENROLLMENT_TOKEN, key).catch((e: ServiceError) => e.code);
    expect(code).toBe(status.ALREADY_EXISTS);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, fanout.url, await auth.issue('ada', 'admin'), '/enrollment');
    const row = page.locator('[data-testid="pending-enrollments"] tr', { hasText: 'app-41' });
    await row.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => row.textContent()).toContain('approved by operator:ada');
    await screenshot(page, '21-enrollment-approved');
    expect((await register('app-41', ENROLLMENT_TOKEN, key)).hostId).toBeTruthy();
    await context.close();

    const viewerContext = await browser.newContext();
    const viewer = await viewerContext.newPage();
    await signIn(viewer, fanout.url, await auth.issue('vic', 'viewer'), '/');
    await viewer.getByRole('link', { name: 'Rules' }).waitFor();
    expect(await viewer.getByRole('link', { name: 'Enrollment' }).count()).toBe(0);
    await viewerContext.close();
  });
});
