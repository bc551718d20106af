// The whole path with nothing played: tripwire-agent as its own process with response actions
// on, the ingest service (its task manager) as its own process, the fan-out as its own process,
// PostgreSQL, Redis and Chromium. The agent's own PROCESS sensor reports a process; the
// operator kills it from the alert's detail (pid and start time prefilled), then runs a shell
// command whose output arrives while it still runs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IngestProcess } from '@tripwire/ingest/testing';
import { ServiceProcess, until } from '@tripwire/test-fixtures';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, JWT_SECRET, useEnvironment } from '../fanout-harness.js';
import {
  ENROLLMENT_TOKEN,
  FanoutProcess,
  launchChromium,
  screenshot,
  signIn,
} from './dashboard-harness.js';

const env = useEnvironment();
const AGENT_DIR = dirname(createRequire(import.meta.url).resolve('@tripwire/agent/package.json'));
const unique = `${process.pid}${Date.now() % 100_000}`;
const HOSTNAME = `real-${unique}`;
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `tripwire-${prefix}-`));
let ingest: IngestProcess;
let fanout: FanoutProcess;
let agent: ServiceProcess;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN);
  await ingest.start();
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  const stateDir = tempDir('agent-state');
  const rules = join(tempDir('rules'), 'local-rules.json');
  writeFileSync(
    rules,
    JSON.stringify({
      rules: [
        { name: 'odd-sleep', type: 'PROCESS', severity: 'CRITICAL', target: `sleep 31${unique}` },
      ],
    }),
  );
  agent = new ServiceProcess(AGENT_DIR, ['src/cli.ts'], {
    TRIPWIRE_LOG_LEVEL: 'info',
    TRIPWIRE_ENROLL_TOKEN: ENROLLMENT_TOKEN,
  });
  agent.spawn([
    'run',
    '--server',
    ingest.address,
    '--insecure',
    '--state-dir',
    stateDir,
    '--hostname',
    HOSTNAME,
    '--rules-file',
    rules,
    '--process-poll',
    '200',
    '--task-actions',
    'process_list,kill_process,file_hash,shell_execute',
    '--task-shell-unrestricted',
  ]);
  // The PROCESS sensor takes everything running when it arms as its baseline: a process started
  // before that never alerts, so the test's process waits for it (a slow start under load).
  await until(
    () => agent.logLines().some((line) => line.msg === 'process tripwires armed'),
    60_000,
    'the agent to arm its process tripwires',
  );
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  page = await context.newPage();
  await signIn(page, fanout.url, await auth.issue('ada', 'admin'), '/');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await agent?.kill9();
  await fanout?.stop();
  await ingest?.stop();
});

const detailState = () => page.getByTestId('task-state').textContent();
const taskIdInUrl = () => new URL(page.url()).searchParams.get('task');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('response actions with a real agent', () => {
  it('kills the process a PROCESS alert names, from its detail', async () => {
    const sleeper = spawn('sleep', [`31${unique}`], { stdio: 'ignore' });
    const gone = new Promise((resolve) => sleeper.once('exit', resolve));
    const row = page.locator('[data-alert-id]', { hasText: 'odd-sleep' });
    await row.waitFor({ timeout: 60_000 }).catch(async (err) => {
      await screenshot(page, 'tasks-real-debug');
      throw err;
    });
    await row.dblclick();
    await page.getByTestId('alert-detail').getByRole('button', { name: 'Respond' }).click();
    const form = page.getByRole('form', { name: `Respond on ${HOSTNAME}` });
    expect(await form.locator('input[name="pid"]').inputValue()).toBe(String(sleeper.pid));
    // Enabled once the policy the agent reported at connect is read.
    const run = form.getByRole('button', { name: 'Run kill_process' });
    await expect.poll(() => run.isEnabled(), { timeout: 10_000 }).toBe(true);
    await run.click();
    await expect.poll(() => taskIdInUrl()).toMatch(/^[0-9a-f-]{36}$/);
    await expect.poll(() => detailState(), { timeout: 20_000 }).toBe('SUCCEEDED');
    await gone;
    expect(alive(sleeper.pid!)).toBe(false);
    expect(await page.getByTestId('task-result').textContent()).toContain('"exited": true');
    await screenshot(page, 'tasks-real-01-killed');
  }, 90_000);

  it('shows a shell task’s first line while the command still runs', async () => {
    const gate = join(tempDir('gate'), 'go');
    await page.getByRole('link', { name: 'Tasks' }).click();
    await page.getByRole('combobox', { name: 'Host' }).selectOption({ label: HOSTNAME });
    await page.getByRole('button', { name: `Respond on ${HOSTNAME}` }).click();
    const form = page.getByRole('form', { name: `Respond on ${HOSTNAME}` });
    await form.getByRole('radio', { name: 'shell_execute' }).check();
    await form
      .locator('input[name="cmd"]')
      .fill(`echo first; echo oops >&2; while [ ! -e ${gate} ]; do sleep 0.05; done; echo second`);
    await form.getByRole('button', { name: 'Run shell_execute' }).click();
    const output = page.getByTestId('task-output');
    await expect.poll(() => output.textContent(), { timeout: 20_000 }).toContain('first');
    // The command waits for a file only written now: this line came while it ran.
    expect(await detailState()).toBe('RUNNING');
    expect(await output.textContent()).not.toContain('second');
    await expect.poll(() => output.locator('[data-stream="stderr"]').textContent()).toBe('oops\n');
    await screenshot(page, 'tasks-real-02-shell-running');
    writeFileSync(gate, '');
    await expect.poll(() => detailState(), { timeout: 20_000 }).toBe('SUCCEEDED');
    expect(await output.textContent()).toContain('second');
    expect(await page.getByTestId('exit-code').textContent()).toBe('0');
    expect(existsSync(gate)).toBe(true);
  });
});
