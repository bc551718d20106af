// The Suppressions page in a real browser, against the real services (see dashboard-harness.ts):
// a responder mutes "alerts like this" from an alert's detail, edits the prefilled draft, and a
// later matching alert never shows in the live list while the suppression counts it; then
// expires it early. A viewer only reads.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, JWT_SECRET, until, useEnvironment } from '../fanout-harness.js';
import {
  ENROLLMENT_TOKEN,
  FanoutProcess,
  launchChromium,
  screenshot,
  signIn,
  startIngest,
  TestAgent,
} from './dashboard-harness.js';

const env = useEnvironment();
let fanout: FanoutProcess;
let ingest: Awaited<ReturnType<typeof startIngest>>;
let browser: Browser;
let agent: TestAgent;
const opened: BrowserContext[] = [];

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  browser = await launchChromium();
  agent = new TestAgent(ingest.client, 'cron-01');
  await agent.connect(ENROLLMENT_TOKEN);
}, 60_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => {});
  agent?.close();
  await browser?.close();
  await fanout?.stop();
  await ingest?.stop();
});

async function consolePage(token: string, path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  opened.push(context);
  const page = await context.newPage();
  await signIn(page, fanout.url, token, path);
  await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
  return page;
}

const activeInIngest = async () =>
  (await ingest.server.metrics.suppressionsActive.get()).values[0]?.value ?? 0;

describe('suppressions in the dashboard', () => {
  it('mutes alerts like this one from its detail; later ones stay out of the list and are counted; expires early', async () => {
    const page = await consolePage(await auth.issue('rita', 'responder'), '/');
    const first = agent.event({ rule: 'cron-spool', detail: { path: '/var/spool/cron/root' } });
    await agent.send([first]);
    await page.locator(`[data-alert-id="${first.alertId}"]`).waitFor();
    // Keyboard, as an operator at the console: the newest row, then its detail.
    await page.getByTestId('alert-table').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('Enter');
    await page.getByTestId('alert-detail').waitFor();
    await page.getByRole('button', { name: 'Mute alerts like this' }).click();

    const form = page.getByRole('form', { name: 'New suppression' });
    await form.waitFor();
    expect(await form.locator('[name=rule_name]').inputValue()).toBe('cron-spool');
    expect(await form.locator('[name=host_id]').inputValue()).toBe(agent.hostId);
    expect(await form.locator('[name=detail]').inputValue()).toBe(
      'path equals /var/spool/cron/root',
    );
    // Without a justification the server refuses, and the form says which field.
    await form.getByRole('button', { name: 'Mute' }).click();
    await form.locator('[data-field-error=justification]').waitFor();
    await form.locator('[name=detail]').fill('path prefix /var/spool/cron/');
    await form.locator('[name=justification]').fill('nightly backup rewrites its crontab');
    const before = await activeInIngest();
    await form.getByRole('button', { name: 'Mute' }).click();
    const row = page.locator('[data-testid="suppressions"] tr[data-suppression-id]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('nightly backup rewrites its crontab');
    await screenshot(page, '30-suppression-created');
    await until(async () => (await activeInIngest()) === before + 1, 5_000, 'ingest to reload');

    await page.getByRole('link', { name: 'Alerts' }).click();
    const muted = agent.event({ rule: 'cron-spool', detail: { path: '/var/spool/cron/backup' } });
    const loud = agent.event({ rule: 'cron-spool', detail: { path: '/etc/crontab' } });
    await agent.send([muted, loud]);
    // Published in this order: once the loud one shows, the muted one would have too.
    await page.locator(`[data-alert-id="${loud.alertId}"]`).waitFor();
    expect(await page.locator(`[data-alert-id="${muted.alertId}"]`).count()).toBe(0);

    await page.getByRole('link', { name: 'Suppressions' }).click();
    await expect.poll(() => row.getByTestId('hits').textContent()).toBe('1');
    await row.getByRole('button', { name: 'Expire now' }).click();
    await expect.poll(() => row.textContent()).toContain('expired');
    await screenshot(page, '31-suppression-expired');
  });

  it('a viewer sees suppressions read-only', async () => {
    const page = await consolePage(await auth.issue('vic', 'viewer'), '/suppressions');
    await page.getByText('Read-only: muting alerts needs the responder or admin role.').waitFor();
    expect(await page.getByRole('button', { name: 'New suppression' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Expire now' }).count()).toBe(0);
  });
});
