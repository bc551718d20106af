// The incidents page in a real browser, against the real services (see dashboard-harness.ts):
// an alert storm becomes one incident whose count climbs live, two operators work it from two
// browser contexts and see each other's changes over the WebSocket, a viewer only reads.
// Screenshot paths are printed in the test output.
import { Severity } from '@tripwire/proto';
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
let agent: TestAgent;
let adaToken: string;
let bobToken: string;
const opened: BrowserContext[] = [];

const STORM = 200;
const CRITICAL_AT = 120;
const RULE = 'passwd-storm';
/** Filled by the storm test; the others work on this incident. */
const sentIds: string[] = [];
let criticalId = '';
let incidentId = '';

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await FanoutProcess.create(env, JWT_SECRET);
  await fanout.start();
  browser = await launchChromium();
  agent = new TestAgent(ingest.client, 'storm-01');
  await agent.connect(ENROLLMENT_TOKEN);
  adaToken = await auth.issue('ada', 'admin');
  bobToken = await auth.issue('bob', 'admin');
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

const incidentRows = (page: Page) => page.locator('[data-testid="incidents"] tr[data-incident-id]');
const navCount = (page: Page) => page.getByTestId('open-incidents').textContent();
const detail = (page: Page) => page.getByTestId('incident-detail');
const detailState = (page: Page) =>
  detail(page).locator('[data-testid="incident-state"] [data-state]').getAttribute('data-state');

async function openIncident(page: Page) {
  await page.getByRole('button', { name: `Incident ${RULE} on storm-01` }).click();
  await expect.poll(() => detail(page).getAttribute('data-revision')).toMatch(/^\d+$/);
}

// The page's globals, as far as the functions below that run in Chromium use them (this
// package's TypeScript has no DOM library).
interface PageGlobals {
  __seenAt: Promise<number>;
  __clickedAt: number;
  __sameDocument?: boolean;
}
declare const window: PageGlobals;
declare const document: {
  body: object;
  querySelector(selector: string): { textContent: string | null } | null;
  addEventListener(type: 'click', f: () => void, o: { capture: boolean; once: boolean }): void;
};
declare const MutationObserver: new (
  f: () => void,
) => {
  observe(target: object, options: Record<string, boolean>): void;
  disconnect(): void;
};

/** What B's page must show: every `present` selector, no `absent` one, `text` inside its selector. */
interface Seen {
  present: string[];
  absent?: string[];
  text?: { selector: string; includes: string };
}

/**
 * Starts watching a page until it shows `seen`, timestamped with the page's clock (the OS
 * clock, shared by every context of one Chromium); read the time with seenAt().
 */
async function watchFor(page: Page, seen: Seen) {
  await page.evaluate((want: Seen) => {
    const shows = () =>
      want.present.every((s) => document.querySelector(s)) &&
      !(want.absent ?? []).some((s) => document.querySelector(s)) &&
      (!want.text ||
        (document.querySelector(want.text.selector)?.textContent ?? '').includes(
          want.text.includes,
        ));
    window.__seenAt = new Promise((resolve) => {
      const check = () => {
        if (!shows()) return;
        observer.disconnect();
        resolve(Date.now());
      };
      const observer = new MutationObserver(check);
      observer.observe(document.body, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
      check();
    });
  }, seen);
  return {
    seenAt: () => page.evaluate(() => window.__seenAt),
  };
}

/** Clicks the submit button of A's open form, returning the page's clock at the click. */
async function submitTimed(page: Page, form: string, button: string) {
  await page.evaluate(() => {
    document.addEventListener(
      'click',
      () => {
        window.__clickedAt = Date.now();
      },
      { capture: true, once: true },
    );
  });
  await page.getByRole('form', { name: form }).getByRole('button', { name: button }).click();
  return page.evaluate(() => window.__clickedAt);
}

describe('incidents', () => {
  it('an alert storm is one incident whose count and severity climb live', async () => {
    const page = await consolePage(adaToken, '/incidents');
    await expect
      .poll(() => page.getByTestId('incidents-footer').textContent())
      .toBe('No incidents match this filter.');
    await expect.poll(() => navCount(page)).toBe(' 0');
    // Proof that nothing below reloads the page: this survives only in the same document.
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    const seenCounts: string[] = [];
    const seenSeverities: string[] = [];
    for (let batch = 0; batch < STORM / 50; batch++) {
      const events = Array.from({ length: 50 }, (_, k) => {
        const i = batch * 50 + k;
        const severity =
          i === CRITICAL_AT ? Severity.CRITICAL : i % 10 === 3 ? Severity.WARN : Severity.INFO;
        return agent.event({
          severity,
          rule: RULE,
          detail: { path: '/etc/passwd', seq: i, new_sha256: `${i}`.padStart(4, '0') },
        });
      });
      criticalId ||= events.find((e) => e.severity === Severity.CRITICAL)?.alertId ?? '';
      sentIds.push(...(await agent.send(events)));
      const row = incidentRows(page);
      await expect
        .poll(() => row.locator('[data-testid="alert-count"]').textContent())
        .toBe(String(sentIds.length));
      seenCounts.push((await row.locator('[data-testid="alert-count"]').textContent()) ?? '');
      seenSeverities.push((await row.getAttribute('data-severity')) ?? '');
      expect(await row.count()).toBe(1);
    }
    // Each step was shown live, in the same document; CRITICAL from the batch that had it.
    expect(seenCounts).toEqual(['50', '100', '150', '200']);
    expect(seenSeverities).toEqual(['WARN', 'WARN', 'CRITICAL', 'CRITICAL']);
    expect(await page.evaluate(() => window.__sameDocument)).toBe(true);

    const row = incidentRows(page);
    incidentId = (await row.getAttribute('data-incident-id')) ?? '';
    expect(await row.textContent()).toMatch(/CRITICALstorm-01passwd-stormFILEOPEN200/);
    await expect.poll(() => navCount(page)).toBe(' 1');
    await expect
      .poll(() => page.getByRole('link', { name: /^Incidents/ }).textContent())
      .toBe('Incidents 1');
    await screenshot(page, 'incidents-01-storm');

    // A reload reads the same from the REST API.
    await page.reload();
    await expect.poll(() => incidentRows(page).count()).toBe(1);
    expect(await incidentRows(page).textContent()).toContain('200');
  });

  it('A acknowledges with a note and B sees it pushed live; A resolves and it leaves B’s open list', async () => {
    const a = await consolePage(adaToken, '/incidents');
    const b = await consolePage(bobToken, '/incidents');
    await openIncident(a);
    await openIncident(b);
    expect(await detailState(b)).toBe('OPEN');
    // B learns of A's changes from the WebSocket alone: it never re-reads the incident. (How
    // fast: printed here, and measured against a polling baseline by `pnpm bench:incidents`.)
    const bReads: number[] = [];
    b.on('request', (r) => {
      if (/\/api\/incidents\/[0-9a-f-]{36}$/.test(new URL(r.url()).pathname))
        bReads.push(Date.now());
    });
    const readsBetween = (from: number, to: number) => bReads.filter((t) => t >= from && t <= to);

    // Acknowledge, timed from A's click to B's page showing the state and the note.
    const note = 'looking into it: config management run at 14:00?';
    const ackSeen = await watchFor(b, {
      present: [
        '[data-testid="incident-state"] [data-state="ACKNOWLEDGED"]',
        'tr[data-incident-id] [data-state="ACKNOWLEDGED"]',
      ],
      text: { selector: '[data-testid="incident-notes"]', includes: note },
    });
    await a.getByRole('button', { name: 'Acknowledge' }).click();
    await a.getByRole('form', { name: 'Acknowledge' }).getByLabel('Note (optional)').fill(note);
    const clickedAt = await submitTimed(a, 'Acknowledge', 'Acknowledge');
    const ackShownAt = await ackSeen.seenAt();
    console.log(
      `acknowledge: A's click → B's page shows ACKNOWLEDGED + note in ${ackShownAt - clickedAt} ms`,
    );
    expect(readsBetween(clickedAt, ackShownAt)).toEqual([]);
    const bNotes = b.getByTestId('incident-notes');
    expect(await bNotes.locator('[data-note-author]').getAttribute('data-note-author')).toBe('ada');
    expect(await bNotes.textContent()).toContain(note);
    expect(await detailState(a)).toBe('ACKNOWLEDGED');
    // Still open (ACKNOWLEDGED is open), so B's list keeps it and the count stays.
    await expect.poll(() => incidentRows(b).getAttribute('data-state')).toBe('ACKNOWLEDGED');
    expect(await navCount(b)).toBe(' 1');

    // B writes a note on the copy it had, A assigns meanwhile: B's save is refused as stale,
    // B's panel says so and shows A's change; B's retry goes through.
    await b.getByRole('button', { name: 'Add note' }).click();
    const bForm = b.getByRole('form', { name: 'Add note' });
    await bForm.getByLabel('Note').fill('bob: the hash matches the new package');
    await a.getByRole('button', { name: 'Assign' }).click();
    await a
      .getByRole('form', { name: 'Assign' })
      .getByLabel(/^Assignee/)
      .fill('ada');
    await a.getByRole('button', { name: 'Save assignee' }).click();
    await expect.poll(() => b.getByTestId('incident-assignee').textContent()).toBe('ada');
    await bForm.getByRole('button', { name: 'Add note' }).click();
    await expect
      .poll(() => bForm.getByTestId('conflict').textContent())
      .toBe('Changed by someone else — reloaded. Check it and try again.');
    await bForm.getByRole('button', { name: 'Add note' }).click();
    await expect.poll(() => bForm.count()).toBe(0);
    await expect
      .poll(() => a.getByTestId('incident-notes').textContent())
      .toContain('bob: the hash matches the new package');

    // Resolving needs a root cause: the API's field error appears under the field.
    await a.getByRole('button', { name: 'Resolve' }).click();
    const resolve = a.getByRole('form', { name: 'Resolve' });
    await resolve.getByRole('button', { name: 'Resolve' }).click();
    await expect
      .poll(() => resolve.locator('[data-field-error="root_cause"]').textContent())
      .toBe('must not be empty');
    await resolve.getByLabel('Resolution method').selectOption('PLAYBOOK');
    await resolve.getByLabel('Root cause').fill('package update rewrote /etc/passwd');
    await screenshot(a, 'incidents-02-resolve-form');
    // B starts marking it a false positive at the same time; A's resolve will beat B to it.
    await b.getByRole('button', { name: 'Mark false positive' }).click();
    const bFalsePositive = b.getByRole('form', { name: 'Mark false positive' });
    await bFalsePositive.getByLabel('Root cause').fill('a planned change');
    const resolvedSeen = await watchFor(b, {
      present: ['[data-testid="incident-state"] [data-state="RESOLVED"]'],
      absent: ['tr[data-incident-id]'],
    });
    const resolvedAt = await submitTimed(a, 'Resolve', 'Resolve');
    const resolveShownAt = await resolvedSeen.seenAt();
    console.log(
      `resolve: A's click → B's open list empty, panel RESOLVED in ${resolveShownAt - resolvedAt} ms`,
    );
    expect(readsBetween(resolvedAt, resolveShownAt)).toEqual([]);
    expect(await b.getByTestId('incident-resolution').textContent()).toBe('PLAYBOOK');
    expect(await b.getByTestId('incident-root-cause').textContent()).toBe(
      'package update rewrote /etc/passwd',
    );
    expect(await b.getByTestId('incidents-footer').textContent()).toBe(
      'No incidents match this filter.',
    );
    await expect.poll(() => navCount(b)).toBe(' 0');
    // B's form no longer applies: it closed, saying why.
    expect(await bFalsePositive.count()).toBe(0);
    expect(await b.getByTestId('conflict').textContent()).toBe(
      'Changed by someone else: the incident is now RESOLVED, so “Mark false positive” no longer applies.',
    );
    // A final incident offers only a note.
    expect(
      await a
        .getByRole('group', { name: 'Incident actions' })
        .getByRole('button')
        .allTextContents(),
    ).toEqual(['Add note']);
    await screenshot(b, 'incidents-03-resolved-seen-by-b');

    // B's state filter, kept in the URL: the resolved incident is there.
    await b.getByLabel('RESOLVED').check();
    await expect
      .poll(() => new URL(b.url()).searchParams.get('state'))
      .toBe('OPEN,ACKNOWLEDGED,RESOLVED');
    await expect.poll(() => incidentRows(b).getAttribute('data-state')).toBe('RESOLVED');
    await b.reload();
    await expect.poll(() => incidentRows(b).getAttribute('data-state')).toBe('RESOLVED');
    expect(await b.getByLabel('RESOLVED').isChecked()).toBe(true);

    // The audit log: A's two transitions and the assignment, B's note, the opening by ingest.
    await a.getByRole('link', { name: 'Audit log' }).click();
    const entries = () =>
      a.locator('[data-testid="audit"] tr[data-action^="incident."]').evaluateAll((rows) =>
        rows.map((r) => {
          const cells = [...r.querySelectorAll('td')].map((td) => td.textContent ?? '');
          const details = JSON.parse(cells[6] || '{}') as { from?: string; to?: string };
          return `${cells[3]} by ${cells[2]}${details.to ? ` ${details.from}→${details.to}` : ''}`;
        }),
      );
    await expect
      .poll(entries)
      .toEqual([
        'incident.transition by operator:ada ACKNOWLEDGED→RESOLVED',
        'incident.update by operator:bob',
        'incident.update by operator:ada',
        'incident.transition by operator:ada OPEN→ACKNOWLEDGED',
        'incident.open by ingest',
      ]);
    await screenshot(a, 'incidents-04-audit');
  });

  it('a viewer reads everything, changes nothing, and finds the CRITICAL alert of the storm', async () => {
    const page = await consolePage(await auth.issue('vic', 'viewer'), '/incidents?state=all');
    // By keyboard: the row's rule is a button; Enter opens the panel.
    const rowButton = page.getByRole('button', { name: `Incident ${RULE} on storm-01` });
    await rowButton.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => detail(page).getAttribute('data-revision')).toMatch(/^\d+$/);
    const panel = detail(page);
    expect(await panel.getByTestId('read-only').textContent()).toContain('needs the admin role');
    expect(await panel.getByRole('group', { name: 'Incident actions' }).count()).toBe(0);
    for (const name of [
      'Acknowledge',
      'Reopen',
      'Assign',
      'Add note',
      'Resolve',
      'Mark false positive',
    ])
      expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    expect(await detailState(page)).toBe('RESOLVED');
    expect(await panel.getByTestId('incident-notes').textContent()).toContain('looking into it');

    // The incident's alerts: a page of the newest 50 of 200, all from the storm.
    const listed = () =>
      panel
        .locator('[data-testid="incident-alerts"] [data-alert-id]')
        .evaluateAll((li) => li.map((l) => l.getAttribute('data-alert-id')!));
    await expect
      .poll(() => panel.getByTestId('incident-alerts-range').textContent())
      .toBe('1–50 of 200');
    const firstPage = await listed();
    expect(firstPage).toHaveLength(50);
    for (const id of firstPage) expect(sentIds).toContain(id);
    await panel.getByRole('button', { name: 'Older' }).click();
    await expect
      .poll(() => panel.getByTestId('incident-alerts-range').textContent())
      .toBe('51–100 of 200');
    expect((await listed()).filter((id) => firstPage.includes(id))).toEqual([]);
    await panel.evaluate((el) => el.scrollTo(0, 0));
    await screenshot(page, 'incidents-05-detail-viewer');

    // The one CRITICAL among them, one filter away; a click shows its fields.
    await panel.getByLabel('CRITICAL').check();
    await expect
      .poll(() => panel.getByTestId('incident-alerts-range').textContent())
      .toBe('1–1 of 1');
    expect(await listed()).toEqual([criticalId]);
    await panel.locator(`[data-alert-id="${criticalId}"] button`).click();
    const alertDetail = page.getByTestId('alert-detail');
    await alertDetail.waitFor();
    expect(await alertDetail.textContent()).toContain(criticalId);
    expect(JSON.parse((await page.getByTestId('event-detail').textContent()) ?? '')).toMatchObject({
      seq: CRITICAL_AT,
    });
    await screenshot(page, 'incidents-06-critical-alert-of-incident');
    // Esc: back from the alert to the incident, then the panel closes and the row has focus.
    await page.keyboard.press('Escape');
    await detail(page).waitFor();
    expect(await alertDetail.count()).toBe(0);
    await page.keyboard.press('Escape');
    await expect.poll(() => detail(page).count()).toBe(0);
    expect(await rowButton.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);

    // A hand-made change from the viewer's session is refused.
    const status = await page.evaluate(async (id) => {
      const res = await fetch(`/api/incidents/${id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ note: 'sneaky' }),
      });
      return res.status;
    }, incidentId);
    expect(status).toBe(403);
  });
});
