// The API reference page (/docs) in real Chromium: Redoc, bundled with the dashboard build, renders
// every operation of the fan-out's own /api/openapi.yaml, under the dashboard's CSP, fetching
// nothing from any other origin.
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type RunningFanout, startFanout, useEnvironment } from '../fanout-harness.js';
import { launchChromium, screenshot } from './dashboard-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let browser: Browser;

beforeAll(async () => {
  fanout = await startFanout(env);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await fanout?.stop();
});

const document = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { summary?: string }>>;
};
const summaries = Object.values(document.paths).flatMap((item) =>
  ['get', 'post', 'put', 'patch', 'delete'].flatMap((m) => item[m]?.summary ?? []),
);

describe('the API reference page', () => {
  it('renders every documented operation from /api/openapi.yaml, same-origin only, no CSP violation', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => {
      // Redoc's "API docs by Redocly" footer points at a logo on its CDN: the CSP refuses it, so
      // it is never fetched (checked below); any other console error is a problem.
      if (m.type() === 'error' && !m.text().includes('cdn.redoc.ly/redoc/logo-mini.svg')) {
        problems.push(m.text());
      }
    });
    page.on('pageerror', (err) => problems.push(err.message));
    // Answered requests only: one the CSP blocked (the logo) never reached the network.
    page.on('response', (r) => {
      if (new URL(r.url()).origin !== fanout.url && !r.url().startsWith('data:'))
        foreign.push(r.url());
    });
    const answer = await page.goto(`${fanout.url}/docs`);
    expect(answer?.headers()['content-security-policy']).toContain("default-src 'self'");
    // Redoc's operation headings are the operations' summaries.
    await page
      .getByRole('heading', { name: 'Alerts, newest first, paged by cursor' })
      .waitFor({ timeout: 15_000 });
    const headings = (await page.locator('h2').allTextContents()).join('\n');
    for (const summary of summaries) expect(headings).toContain(summary);
    await screenshot(page, 'api-reference');
    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  });
});
