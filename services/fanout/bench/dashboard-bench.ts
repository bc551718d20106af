// pnpm bench:dashboard — the dashboard in Chromium under an alert storm, next to a baseline
// measured in the same run on the same machine and browser:
//   - dashboard:  the real console (packages/dashboard/dist) served by the real fan-out service;
//                 alerts are published on the Redis bus as the ingest service publishes them and
//                 reach the page over /ws/alerts
//   - baseline:   the same alerts, at the same rate, appended to a plain full-DOM <table> (one
//                 <tr> per alert, newest on top) in a page of its own: what a console without
//                 virtualization or batching would do
// Per page it reports: how long after the last alert was published the page showed it, frames
// per second and the longest frame during the storm, main-thread long tasks (> 50 ms), the
// longest frame while scrolling through everything, the JS heap, and the DOM node count.
//
// Knobs: BENCH_ALERTS (20000), BENCH_RATE (2000 alerts/s), DATABASE_URL / REDIS_URL
// (local servers by default), CHROMIUM_PATH (/usr/bin/chromium).

import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BusPublisher, createRedisClient, redisBus, serializeAlertMessage } from '@tripwire/bus';
import { parseCommandLine } from '@tripwire/config';
import { createLogger } from '@tripwire/logger';
import { createPool, ensureDatabaseExists, migrateDatabase } from '@tripwire/storage';
import { type Browser, chromium, type Page } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { createFanoutServer } from '../src/fanout-server.js';
import { createOperatorAuth } from '../src/operator-auth.js';

parseCommandLine({
  usage: `usage: pnpm bench:dashboard

The dashboard in Chromium under an alert storm, next to a baseline from the same run
(BENCHMARKS.md). Takes no options; settings come from the environment:
  BENCH_ALERTS   alerts published (default 20000)
  BENCH_RATE     alerts per second (default 2000)
  CHROMIUM_PATH  the browser (default /usr/bin/chromium)
  DATABASE_URL, REDIS_URL   the servers (a database and key prefix of its own)`,
  options: {},
});

// Functions passed to page.evaluate run in the browser; this package compiles without the DOM lib.
// biome-ignore lint/suspicious/noExplicitAny: the page's document, typed loosely on purpose
declare const document: any;

const TOTAL = Number(process.env.BENCH_ALERTS ?? 20_000);
const RATE = Number(process.env.BENCH_RATE ?? 2_000);
const TICK_MS = 50;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Alerts only travel the bus here, so this database stays empty and is kept between runs. */
const DATABASE_URL = (() => {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = '/tripwire_bench_dashboard';
  return url.toString();
})();
const SECRET = `bench-dashboard-${randomUUID()}`;
const PREFIX = `bench:dashboard:${Date.now()}:`;

interface Figures {
  catchUpMs: number;
  fps: number;
  longestFrameMs: number;
  longTasks: number;
  longTaskMs: number;
  scrollLongestFrameMs: number;
  heapMiB: number;
  domNodes: number;
}

function alerts(): string[] {
  const hosts = Array.from({ length: 20 }, (_, i) => ({ id: randomUUID(), name: `web-${i}` }));
  const severities = ['INFO', 'WARN', 'CRITICAL'] as const;
  const types = ['FILE', 'PROCESS', 'NETWORK'] as const;
  return Array.from({ length: TOTAL }, (_, i) => {
    const host = hosts[i % hosts.length]!;
    const now = new Date();
    return serializeAlertMessage(
      {
        alert_id: randomUUID(),
        host_id: host.id,
        hostname: host.name,
        timestamp: now.toISOString(),
        timestamp_us: now.getTime() * 1000,
        received_at: now.toISOString(),
        tripwire_type: types[i % 3]!,
        severity: severities[(i * 7) % 3]!,
        rule_name: 'etc-watch',
      },
      JSON.stringify({
        path: `/etc/app/${i}.conf`,
        old_sha256: 'ab'.repeat(32),
        new_sha256: 'cd'.repeat(32),
      }),
    );
  });
}

// Installed in both pages before anything runs: frame and long-task recorders.
const RECORDERS = `
  window.__frames = []; window.__longTasks = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); })
    .observe({ type: 'longtask', buffered: true });
  (function tick(t) { window.__frames.push(t); requestAnimationFrame(tick); })(performance.now());
`;

async function resetRecorders(page: Page) {
  await page.evaluate('window.__frames = []; window.__longTasks = [];');
}

async function frameStats(page: Page) {
  return page.evaluate<{
    fps: number;
    longest: number;
    longTasks: number;
    longTaskMs: number;
  }>(`(() => {
    const f = window.__frames; let longest = 0;
    for (let i = 1; i < f.length; i++) longest = Math.max(longest, f[i] - f[i - 1]);
    const span = f.length > 1 ? f[f.length - 1] - f[0] : 1;
    const lt = window.__longTasks;
    return { fps: (f.length - 1) / (span / 1000), longest, longTasks: lt.length, longTaskMs: lt.reduce((a, b) => a + b, 0) };
  })()`);
}

async function scrollThrough(page: Page, selector: string) {
  await resetRecorders(page);
  await page.evaluate(`(async () => {
    const el = document.querySelector(${JSON.stringify(selector)});
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    for (let i = 0; i <= 60; i++) { el.scrollTop = (el.scrollHeight - el.clientHeight) * i / 60; await frame(); }
  })()`);
  return (await frameStats(page)).longest;
}

async function memory(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const get = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
  await cdp.detach();
  return { heapMiB: get('JSHeapUsedSize') / 2 ** 20, domNodes: get('Nodes') };
}

/** The storm's frame figures so far, then a scroll through `scroller`, then memory. */
async function figures(page: Page, catchUpMs: number, scroller: string): Promise<Figures> {
  const storm = await frameStats(page);
  const scrollLongestFrameMs = await scrollThrough(page, scroller);
  return {
    catchUpMs,
    fps: storm.fps,
    longestFrameMs: storm.longest,
    longTasks: storm.longTasks,
    longTaskMs: storm.longTaskMs,
    scrollLongestFrameMs,
    ...(await memory(page)),
  };
}

async function measureDashboard(browser: Browser, payloads: string[]): Promise<Figures> {
  await ensureDatabaseExists(DATABASE_URL);
  await migrateDatabase({ databaseUrl: DATABASE_URL });
  const config = loadConfig({
    DATABASE_URL: DATABASE_URL,
    REDIS_URL,
    OPERATOR_JWT_SECRET: SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    BUS_KEY_PREFIX: PREFIX,
    HISTORY_MAX_ENTRIES: String(TOTAL * 2),
    LOG_LEVEL: 'warn',
  });
  const pool = createPool({ databaseUrl: DATABASE_URL });
  const fanoutPublisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const fanout = createFanoutServer({
    config,
    pool,
    bus: redisBus({ publisher: fanoutPublisherRedis, subscriber: createRedisClient(REDIS_URL) }),
    log: createLogger({ name: 'bench', level: 'warn' }),
  });
  const { port } = await fanout.start();
  const publisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: PREFIX });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const token = await createOperatorAuth(SECRET).issue('bench', 'viewer');
    await context.addCookies([
      { name: 'tw_session', value: token, domain: '127.0.0.1', path: '/' },
    ]);
    const page = await context.newPage();
    await page.addInitScript(RECORDERS);
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('[data-state="live"]');
    await page.waitForTimeout(500);
    await resetRecorders(page);

    const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
    const started = Date.now();
    for (let sent = 0; sent < payloads.length; sent += perTick) {
      publisher.publishSerialized(payloads.slice(sent, sent + perTick));
      const due = started + ((sent + perTick) / RATE) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    const lastSentAt = Date.now();
    process.stderr.write(`published ${TOTAL} in ${lastSentAt - started} ms\n`);
    const want = `${TOTAL.toLocaleString('en-US')} alerts loaded`;
    await page.waitForFunction(
      (text) => document.querySelector('[data-testid="row-count"]')?.textContent === text,
      want,
      { timeout: 120_000, polling: 10 },
    );
    const catchUpMs = Date.now() - lastSentAt;
    return await figures(page, catchUpMs, '[data-testid="alert-scroller"]');
  } finally {
    await context.close();
    await fanout.stop();
    fanoutPublisherRedis.disconnect();
    publisher.close();
    publisherRedis.disconnect();
    await pool.end();
    const cleanup = createRedisClient(REDIS_URL);
    const keys = await cleanup.keys(`${PREFIX}*`);
    if (keys.length) await cleanup.del(...keys);
    cleanup.disconnect();
  }
}

/** The same alerts at the same rate into a plain table: no virtualization, no batching. */
async function measureBaseline(browser: Browser, payloads: string[]): Promise<Figures> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await context.newPage();
    await page.addInitScript(RECORDERS);
    await page.setContent(`<!doctype html><style>
      body{margin:0;font:13px system-ui} #s{height:800px;overflow-y:auto} td{padding:4px 8px;white-space:nowrap}
    </style><div id="s"><table><tbody id="t"></tbody></table></div><p id="n">0</p>`);
    // setContent replaces the document, and the recorders with it.
    await page.evaluate(RECORDERS);
    await page.waitForTimeout(500);
    await resetRecorders(page);
    const started = Date.now();
    await page.evaluate(
      ({ payloads, rate, tickMs }) =>
        new Promise<void>((done) => {
          const body = document.getElementById('t')!;
          const count = document.getElementById('n')!;
          const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
          let sent = 0;
          const timer = setInterval(() => {
            for (const p of payloads.slice(sent, sent + perTick)) {
              const a = JSON.parse(p).data;
              const tr = document.createElement('tr');
              for (const v of [
                a.received_at,
                a.severity,
                a.tripwire_type,
                a.hostname,
                a.rule_name,
                JSON.stringify(a.event_detail),
              ]) {
                const td = document.createElement('td');
                td.textContent = v;
                tr.append(td);
              }
              body.prepend(tr);
            }
            sent += perTick;
            count.textContent = String(Math.min(sent, payloads.length));
            if (sent >= payloads.length) {
              clearInterval(timer);
              done();
            }
          }, tickMs);
        }),
      { payloads, rate: RATE, tickMs: TICK_MS },
    );
    // The page's own timer paces the alerts; anything past the planned duration is lag.
    const catchUpMs = Math.max(0, Date.now() - started - (TOTAL / RATE) * 1000);
    return await figures(page, catchUpMs, '#s');
  } finally {
    await context.close();
  }
}

function bundleSize() {
  const dist = join(
    dirname(createRequire(import.meta.url).resolve('@tripwire/dashboard/package.json')),
    'dist',
    'assets',
  );
  let raw = 0;
  let gz = 0;
  // The API reference page's own files (/docs: its entry and Redoc's bundle) are not the console's.
  const consoleFiles = readdirSync(dist).filter(
    (f) => /\.(js|css)$/.test(f) && !/^(docs|redoc\.standalone)-/.test(f),
  );
  for (const f of consoleFiles) {
    raw += statSync(join(dist, f)).size;
    gz += gzipSync(readFileSync(join(dist, f))).length;
  }
  return { raw, gz };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--enable-precise-memory-info',
  ],
});
try {
  const payloads = alerts();
  console.log(
    `dashboard bench: ${TOTAL.toLocaleString('en-US')} alerts at ${RATE}/s, Chromium ${browser.version()}\n`,
  );
  const step = (what: string) => process.stderr.write(`${what}…\n`);
  step('dashboard');
  const dashboard = await measureDashboard(browser, payloads);
  step('baseline');
  const baseline = await measureBaseline(
    browser,
    payloads.map((p) => `{"data":${JSON.stringify(JSON.parse(p).data)}}`),
  );
  const rows: Array<[string, (f: Figures) => string]> = [
    ['last alert shown after (ms)', (f) => f.catchUpMs.toFixed(0)],
    ['frames/s during the storm', (f) => f.fps.toFixed(1)],
    ['longest frame, storm (ms)', (f) => f.longestFrameMs.toFixed(0)],
    ['long tasks (count / total ms)', (f) => `${f.longTasks} / ${f.longTaskMs.toFixed(0)}`],
    ['longest frame, scrolling all (ms)', (f) => f.scrollLongestFrameMs.toFixed(0)],
    ['JS heap after GC (MiB)', (f) => f.heapMiB.toFixed(1)],
    ['DOM nodes', (f) => f.domNodes.toFixed(0)],
  ];
  console.log(`| | dashboard (virtualized) | baseline (full DOM table) |\n|---|---:|---:|`);
  for (const [name, fmt] of rows) console.log(`| ${name} | ${fmt(dashboard)} | ${fmt(baseline)} |`);
  const size = bundleSize();
  console.log(
    `\nbundle (JS + CSS): ${(size.raw / 1024).toFixed(1)} KiB, ${(size.gz / 1024).toFixed(1)} KiB gzipped`,
  );
} finally {
  await browser.close();
}
