// Search and export in a real browser, against the real services (see dashboard-harness.ts):
// an operator searches the alerts for a path (history and live alerts both narrowed), then
// downloads the filtered alerts, the incidents and the audit log with the Export links, and
// the test reads the files Chromium saved.
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, JWT_SECRET, useEnvironment } from '../fanout-harness.js';
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
let context: BrowserContext;
let page: Page;
let agent: TestAgent;

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  browser = await launchChromium();
  agent = new TestAgent(ingest.client, 'search-01');
  await agent.connect(ENROLLMENT_TOKEN);
  context = await browser.newContext({
    viewport: { width: 1500, height: 950 },
    acceptDownloads: true,
  });
  page = await context.newPage();
  await signIn(page, fanout.url, await auth.issue('eve', 'viewer'));
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  agent?.close();
  await browser?.close();
  await fanout?.stop();
  await ingest?.stop();
});

/** Polls wait this long: the page reloads and the live feed run on a busy 2-core machine. */
const WAIT = { timeout: 15_000 };

const tableRuleNames = async () =>
  (
    await page
      .locator('[data-testid="alert-table"] [data-alert-id] [role="gridcell"]:nth-child(5)')
      .allTextContents()
  ).sort();

/** Clicks an export link and returns the text of the file Chromium saved. */
async function download(testId: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId(testId).click(),
  ]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, 'utf8') };
}

describe('search and export in the dashboard', () => {
  it('narrows the table to alerts whose details mention the search, history and live', async () => {
    await agent.send([
      agent.event({ rule: 'shadow-watch', detail: { path: '/etc/shadow' } }),
      agent.event({ rule: 'hosts-watch', detail: { path: '/etc/hosts' } }),
      agent.event({ rule: '=SUM(1+1)', detail: { note: 'read /etc/SHADOW.bak' } }),
    ]);
    await expect.poll(tableRuleNames, WAIT).toEqual(['=SUM(1+1)', 'hosts-watch', 'shadow-watch']);

    await page.getByLabel('Search alerts').fill('ab');
    await expect
      .poll(() => page.getByRole('button', { name: 'Search' }).isDisabled(), WAIT)
      .toBe(true);
    await page.getByLabel('Search alerts').fill('etc/shadow');
    await page.getByLabel('Search alerts').press('Enter');
    await expect.poll(() => new URL(page.url()).searchParams.get('q'), WAIT).toBe('etc/shadow');
    await expect.poll(tableRuleNames, WAIT).toEqual(['=SUM(1+1)', 'shadow-watch']);

    // Live alerts go through the same search: only the matching one joins the table.
    await agent.send([
      agent.event({ rule: 'live-miss', detail: { path: '/var/log/auth.log' } }),
      agent.event({ rule: 'live-hit', detail: { path: '/etc/shadow-' } }),
    ]);
    await expect.poll(tableRuleNames, WAIT).toEqual(['=SUM(1+1)', 'live-hit', 'shadow-watch']);
    await screenshot(page, 'alerts-search');
  });

  it('downloads the searched alerts as CSV, formulas escaped, and as NDJSON', async () => {
    const csv = await download('export-alerts-csv');
    expect(csv.name).toMatch(/^tripwire-alerts-\d{8}T\d{6}Z\.csv$/);
    const lines = csv.text.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'alert_id,received_at,timestamp,timestamp_us,host_id,tripwire_type,severity,rule_name,event_detail',
    );
    expect(lines).toHaveLength(4);
    expect(csv.text).toContain(",'=SUM(1+1),");
    expect(csv.text).not.toContain('hosts-watch');

    const ndjson = await download('export-alerts-ndjson');
    const rules = ndjson.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).rule_name)
      .sort();
    expect(rules).toEqual(['=SUM(1+1)', 'live-hit', 'shadow-watch']);
  });

  it('downloads the incidents and the audit log, which records the exports', async () => {
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.getByTestId('export-incidents-ndjson').waitFor();
    const incidents = await download('export-incidents-ndjson');
    const rows = incidents.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.rule_name)).toContain('shadow-watch');
    expect(rows.every((r) => r.hostname === 'search-01')).toBe(true);

    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = await download('export-audit-csv');
    expect(audit.name).toMatch(/^tripwire-audit-.*\.csv$/);
    expect(audit.text).toContain('operator:eve,alerts.export,');
    expect(audit.text).toContain('operator:eve,incidents.export,');
  });
});
