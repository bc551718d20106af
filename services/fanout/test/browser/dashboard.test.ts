// The dashboard in a real browser, against the real services (see dashboard-harness.ts).
// Each test saves a screenshot; its path is printed in the test output.
import { Severity, TripwireType } from '@tripwire/proto';
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
let adminToken: string;

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  browser = await launchChromium();
  agent = new TestAgent(ingest.client, 'web-01');
  await agent.connect(ENROLLMENT_TOKEN);
  adminToken = await auth.issue('ada', 'admin');
}, 60_000);

afterAll(async () => {
  agent?.close();
  await browser?.close();
  await fanout?.stop();
  await ingest?.stop();
});

/** A signed-in page; tall enough that the virtualized table renders a few hundred rows. */
async function consolePage(
  token: string,
  path = '/',
  height = 1000,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1400, height } });
  const page = await context.newPage();
  await signIn(page, fanout.url, token, path);
  return { context, page };
}

const rowIds = (page: Page) =>
  page
    .locator('[data-alert-id]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')!));

describe('dashboard', () => {
  it('signs in with a pasted token, keeping it only in an HttpOnly cookie', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(fanout.url);
    await page.getByLabel('Operator token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('token is not valid');

    await page.getByLabel('Operator token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('operator').textContent()).toBe('ada · admin');
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');

    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'tw_session')).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });
    const stored = await page.evaluate<string>(
      'JSON.stringify({ ...localStorage, ...sessionStorage })',
    );
    expect(stored).not.toContain(adminToken.slice(-20));

    // The session survives a reload without asking again.
    await page.reload();
    await page.getByTestId('operator').waitFor();
    await screenshot(page, '01-signed-in');

    // The cookie holds a server-side session id, not the token; signing out ends it on the
    // server, so a copy of the cookie taken before is refused afterwards.
    const session = cookies.find((c) => c.name === 'tw_session')!.value;
    expect(session).toMatch(/^tws_/);
    expect(session).not.toContain(adminToken.slice(-20));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').waitFor();
    const replayed = await fetch(`${fanout.url}/api/session`, {
      headers: { cookie: `tw_session=${session}` },
    });
    expect(replayed.status).toBe(401);
    await context.close();
  });

  it('shows an alert the agent sent, with its detail', async () => {
    const { context, page } = await consolePage(adminToken);
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
    const event = agent.event({
      severity: Severity.CRITICAL,
      rule: 'ssh-config-watch',
      detail: { path: '/etc/ssh/sshd_config', old_sha256: 'aa11', new_sha256: 'bb22', uid: 0 },
    });
    const sentAt = Date.now();
    agent.send([event]);
    const row = page.locator(`[data-alert-id="${event.alertId}"]`);
    // How soon is measured by `pnpm bench:dashboard` (last alert shown ~20 ms after publish); this
    // bound only catches a row that never appears.
    await row.waitFor({ timeout: 15_000 });
    console.log(`alert visible ${Date.now() - sentAt} ms after it was sent`);
    await expect.poll(() => row.textContent()).toContain('CRITICAL');
    expect(await row.getAttribute('class')).toContain('new');
    expect(await row.textContent()).toContain('web-01');

    // Keyboard: focus the table, move to the newest row, open its detail.
    await page.getByTestId('alert-table').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('Enter');
    const detail = page.getByTestId('alert-detail');
    await detail.waitFor();
    expect(JSON.parse((await page.getByTestId('event-detail').textContent()) ?? '')).toEqual({
      path: '/etc/ssh/sshd_config',
      old_sha256: 'aa11',
      new_sha256: 'bb22',
      uid: 0,
    });
    expect(await detail.textContent()).toContain(agent.hostId);
    await expect.poll(() => page.getByTestId('rate-chart').textContent()).toContain('CRITICAL');
    await screenshot(page, '02-alert-live-with-detail');
    await page.keyboard.press('Escape');
    await expect.poll(() => detail.count()).toBe(0);

    // Hosts: online, with its alerts of the last day; a click leads to its alerts.
    await page.getByRole('link', { name: 'Hosts' }).click();
    const hostRow = page.locator(`[data-host-id="${agent.hostId}"]`);
    await expect.poll(() => hostRow.textContent()).toMatch(/web-01online.*linux1\.4\.2[1-9]/);
    await screenshot(page, '03-hosts');
    await hostRow.getByRole('link', { name: 'web-01' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('host')).toBe(agent.hostId);
    await row.waitFor();
    await context.close();
  });

  it('filters by severity through the URL, and the filter survives a reload', async () => {
    const { context, page } = await consolePage(adminToken);
    await page.getByLabel('CRITICAL').check();
    await expect.poll(() => new URL(page.url()).searchParams.get('severity')).toBe('CRITICAL');
    const [info, critical] = [
      agent.event({ severity: Severity.INFO, rule: 'tmp-watch', type: TripwireType.PROCESS }),
      agent.event({ severity: Severity.CRITICAL, rule: 'shadow-watch' }),
    ];
    await agent.send([info, critical]);
    await page.locator(`[data-alert-id="${critical.alertId}"]`).waitFor();
    expect(await page.locator(`[data-alert-id="${info.alertId}"]`).count()).toBe(0);
    const severities = () =>
      page
        .locator('[data-alert-id]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-severity')));
    expect(new Set(await severities())).toEqual(new Set(['CRITICAL']));

    await page.reload();
    await page.locator(`[data-alert-id="${critical.alertId}"]`).waitFor();
    expect(await page.getByLabel('CRITICAL').isChecked()).toBe(true);
    expect(new Set(await severities())).toEqual(new Set(['CRITICAL']));
    // Still filtered live after the reload.
    const laterInfo = agent.event({ severity: Severity.INFO });
    const laterCritical = agent.event({ severity: Severity.CRITICAL });
    await agent.send([laterInfo, laterCritical]);
    await page.locator(`[data-alert-id="${laterCritical.alertId}"]`).waitFor();
    expect(await page.locator(`[data-alert-id="${laterInfo.alertId}"]`).count()).toBe(0);
    await screenshot(page, '04-filtered-critical');

    // Paused: new alerts are held back, then shown on resume.
    await page.getByTestId('pause').click();
    const held = agent.event({ severity: Severity.CRITICAL });
    await agent.send([held]);
    await expect.poll(() => page.getByTestId('held').textContent()).toBe('1 new while paused');
    expect(await page.locator(`[data-alert-id="${held.alertId}"]`).count()).toBe(0);
    await page.getByTestId('pause').click();
    await page.locator(`[data-alert-id="${held.alertId}"]`).waitFor();
    await context.close();
  });

  it('scrolling back past what is loaded fetches older alerts from the API', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        ...(await agent.send(
          Array.from({ length: 200 }, () => agent.event({ severity: Severity.WARN })),
        )),
      );
    const { context, page } = await consolePage(adminToken, '/?severity=WARN', 700);
    await expect.poll(() => page.getByTestId('row-count').textContent()).toBe('200 alerts loaded');
    const table = page.getByTestId('alert-scroller');
    for (let i = 0; i < 10; i++) {
      await table.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.waitForTimeout(100);
    }
    await expect.poll(() => page.getByTestId('row-count').textContent()).toBe('600 alerts loaded');
    await expect
      .poll(() => page.getByTestId('history-footer').textContent())
      .toBe('End of history');
    // Only the rows in view exist in the page.
    expect((await rowIds(page)).length).toBeLessThan(100);
    await context.close();
  });

  it('an admin creates, edits and deletes a rule; the audit log shows all three and verifies', async () => {
    const { context, page } = await consolePage(adminToken, '/rules');
    await page.getByRole('button', { name: 'New rule' }).click();
    const form = page.getByRole('form', { name: 'New rule' });
    await form.getByLabel('Name').fill('cron-watch');
    await form.getByRole('button', { name: 'Create rule' }).click();
    // The API's field error appears next to the field.
    await expect
      .poll(() => form.locator('[data-field-error="target"]').textContent())
      .toBe('is required');
    await form.getByLabel(/^Target/).fill('/etc/cron.d');
    await form.getByLabel('Severity').selectOption('WARN');
    await form.getByRole('button', { name: 'Create rule' }).click();
    const row = page.locator('[data-rule-name="cron-watch"]');
    await expect.poll(() => row.textContent()).toContain('/etc/cron.d');

    await row.getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('form', { name: 'Edit rule cron-watch' });
    await edit.getByLabel('Severity').selectOption('CRITICAL');
    await edit.getByRole('button', { name: 'Save rule' }).click();
    await expect.poll(() => row.textContent()).toContain('CRITICAL');
    await screenshot(page, '06-rules-admin');

    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Confirm delete' }).click();
    await expect.poll(() => row.count()).toBe(0);

    await page.getByRole('link', { name: 'Audit log' }).click();
    const actions = () =>
      page
        .locator('[data-testid="audit"] tr[data-action^="rule."]')
        .evaluateAll((rows) =>
          rows.map(
            (r) => `${r.getAttribute('data-action')} ${r.textContent?.includes('operator:ada')}`,
          ),
        );
    await expect
      .poll(actions)
      .toEqual(['rule.delete true', 'rule.update true', 'rule.create true']);
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await expect
      .poll(() => page.getByTestId('verification').textContent())
      .toMatch(/^Chain intact: \d+ entries verified$/);
    await screenshot(page, '07-audit-verified');
    await context.close();
  });

  it('a viewer sees the rules read-only', async () => {
    const admin = await fetch(`${fanout.url}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'passwd-watch', tripwire_type: 'FILE', target: '/etc/passwd' }),
    });
    expect(admin.status).toBe(201);
    const { context, page } = await consolePage(await auth.issue('vic', 'viewer'), '/rules');
    await page.locator('[data-rule-name="passwd-watch"]').waitFor();
    expect(await page.getByTestId('read-only').textContent()).toContain('needs the admin role');
    expect(await page.getByRole('button', { name: 'New rule' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Edit' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    // Even a hand-made request from the viewer's session is refused.
    const status = await page.evaluate(async () => {
      const res = await fetch('/api/rules', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sneaky', tripwire_type: 'FILE', target: '/tmp' }),
      });
      return res.status;
    });
    expect(status).toBe(403);
    await screenshot(page, '08-rules-viewer');
    await context.close();
  });
});

// Last in the file: it restarts the fan-out service.
describe('dashboard across a fan-out restart', () => {
  it('reconnects, resumes, and catches up with no duplicates', async () => {
    const { context, page } = await consolePage(adminToken, '/?type=NETWORK', 4000);
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
    const sent: string[] = [];
    const sendSome = async (n: number) => {
      for (let i = 0; i < n; i++) {
        sent.push(
          ...(await agent.send([
            agent.event({ type: TripwireType.NETWORK, detail: { port: 4444 + i } }),
          ])),
        );
      }
    };
    await sendSome(10);
    await until(async () => (await rowIds(page)).length === 10);

    // Alerts keep flowing while the service is down and coming back.
    const restart = (async () => {
      await fanout.stop();
      await new Promise((r) => setTimeout(r, 500));
      await fanout.start();
    })();
    await sendSome(20);
    await restart;
    await sendSome(10);

    await expect
      .poll(() => page.getByTestId('connection').getAttribute('data-state'), { timeout: 20_000 })
      .toBe('resumed');
    await until(
      async () => (await rowIds(page)).length >= sent.length,
      10_000,
      'every alert in the table',
    );
    const shown = await rowIds(page);
    expect(shown.length).toBe(sent.length);
    expect(new Set(shown)).toEqual(new Set(sent));
    // Newest first.
    expect(shown).toEqual([...sent].reverse());
    await screenshot(page, '05-resumed-after-restart');
    await context.close();
  });

  it('catches up from the database when the server cannot replay that far back from memory', async () => {
    // A host of its own, so the table holds exactly this test's alerts.
    const dbHost = new TestAgent(ingest.client, 'db-01');
    await dbHost.connect(ENROLLMENT_TOKEN);
    const { context, page } = await consolePage(adminToken, `/?host=${dbHost.hostId}`, 4000);
    await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
    const sent: string[] = [];
    const sendOne = async () =>
      sent.push(...(await dbHost.send([dbHost.event({ type: TripwireType.PROCESS })])));
    for (let i = 0; i < 5; i++) await sendOne();
    await until(async () => (await rowIds(page)).length === 5);

    await fanout.stop();
    for (let i = 0; i < 30; i++) await sendOne();
    // Back with a replay window too small to reach the browser's last position: PostgreSQL serves it.
    await fanout.start({ HISTORY_MAX_ENTRIES: '10' });

    await expect
      .poll(() => page.getByTestId('connection').getAttribute('data-state'), { timeout: 20_000 })
      .toBe('resumed');
    expect(await page.getByTestId('connection').getAttribute('title')).toBe(
      'reconnected and caught up from the database',
    );
    await until(async () => (await rowIds(page)).length >= sent.length, 10_000, 'the catch-up');
    const shown = await rowIds(page);
    // Every alert once: none missed while the fan-out was down, none twice. (The table's order
    // among alerts of the same sensor millisecond is the dashboard's, not the stream's.)
    expect(new Set(shown).size).toBe(shown.length);
    expect([...shown].sort()).toEqual([...sent].sort());
    await screenshot(page, '09-caught-up-from-database');
    dbHost.close();
    await context.close();
  });
});
