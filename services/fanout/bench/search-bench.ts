// pnpm bench:search — alert search and export at scale, on a fresh database of its own:
//  1. COPY BENCH_SEARCH_ALERTS (1,000,000) realistic alerts, received over the last 23 hours;
//  2. the first page of GET /api/alerts?q= (storage's queryAlerts, the default 24-hour range)
//     for searches of every selectivity, BENCH_SEARCH_RUNS (9) times each: median and max, with
//     the trigram index and, in the same run on the same rows, without it (dropped, then rebuilt:
//     the build time is what migration 0015 costs per million existing alerts);
//  3. the fan-out service as its own process exporting every row as CSV (plain and gzip) to a
//     reader that pauses for 3 s half-way: its resident memory sampled all along (constant
//     memory: the growth must not scale with the rows).
// DATABASE_URL / REDIS_URL name the servers (local ones by default).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import {
  createPool,
  ensureDatabaseExists,
  migrateDatabase,
  type NewAlert,
  type Pool,
  queryAlerts,
} from '@tripwire/storage';
import { copyAlertsRaw } from '@tripwire/storage/baselines';
import { createOperatorAuth } from '../src/operator-auth.js';

const ALERTS = Number(process.env.BENCH_SEARCH_ALERTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_SEARCH_RUNS ?? 9);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const benchDb = new URL(serverUrl);
benchDb.pathname = `/tripwire_search_bench_${Date.now()}`;
const databaseUrl = benchDb.toString();
const SECRET = 'search-bench-secret-0123456789abcdef';
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const USERS = ['root', 'www-data', 'postgres', 'deploy', 'alice', 'bob', 'nginx', 'backup'];
const DIRS = [
  '/etc/app/conf.d',
  '/var/www/html',
  '/usr/local/bin',
  '/home/deploy/.ssh',
  '/opt/svc',
];

/** A realistic alert; one in 1,000 touches /etc/shadow, one in 8 is by nginx. */
function makeAlert(hostIds: string[], i: number): NewAlert {
  const kind = i % 3;
  const detail =
    i % 1000 === 7
      ? { path: '/etc/shadow', change: 'modify', uid: 0, user: 'root' }
      : kind === 0
        ? { path: `${DIRS[i % 5]}/${i % 997}.conf`, change: 'modify', user: USERS[i % 8] }
        : kind === 1
          ? {
              remote: `10.${i % 250}.${(i >> 8) % 250}.${i % 7}`,
              port: 1024 + (i % 5000),
              proto: 'tcp',
            }
          : {
              cmdline: ['/bin/sh', '-c', `curl -s http://host-${i % 311}.internal/x`],
              user: USERS[i % 8],
            };
  return {
    alertId: randomUUID(),
    hostId: hostIds[i % hostIds.length]!,
    occurredAtUs: Date.now() * 1000,
    tripwireType: (['FILE', 'NETWORK', 'PROCESS'] as const)[kind]!,
    severity: (['INFO', 'WARN', 'CRITICAL'] as const)[i % 3]!,
    ruleName: ['etc-integrity', 'outbound-watch', 'shell-spawn'][kind]!,
    eventDetailJson: JSON.stringify(detail),
  };
}

async function load(pool: Pool) {
  const hostIds = Array.from({ length: 50 }, () => randomUUID());
  const started = Date.now();
  const day = 23 * 3600_000;
  const t = performance.now();
  for (let i = 0; i < ALERTS; i += 20_000) {
    const rows = Array.from({ length: Math.min(20_000, ALERTS - i) }, (_, j) =>
      makeAlert(hostIds, i + j),
    );
    await copyAlertsRaw(pool, rows, (j) => new Date(started - day + ((i + j) / ALERTS) * day));
  }
  await pool.query('ANALYZE alerts');
  return (performance.now() - t) / 1000;
}

const SEARCHES: Array<[string, string]> = [
  ['/etc/shadow', '0.1% of rows'],
  ['nginx', '~8%'],
  ['etc-integrity', 'a rule name, 33%'],
  ['host-42.internal', '0.1%, inside an array'],
  ['no-such-thing', 'no match'],
];

async function timeSearches(pool: Pool) {
  const range = { from: new Date(Date.now() - 24 * 3600_000), to: new Date(Date.now() + 60_000) };
  const out = new Map<string, { median: number; max: number; found: number }>();
  for (const [q] of SEARCHES) {
    const ms: number[] = [];
    let found = 0;
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      found = (await queryAlerts(pool, { ...range, q, limit: 100 })).alerts.length;
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    out.set(q, { median: ms[Math.floor(ms.length / 2)]!, max: ms.at(-1)!, found });
  }
  return out;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * Exports every row through the fan-out, pausing 3 s half-way. The fan-out's RSS is sampled
 * every 50 ms with how far the download had got: constant memory shows as an RSS that stops
 * climbing early (heap warm-up) and stays flat to the end, the pause included.
 */
function exportOnce(port: number, pid: number, token: string, gzip: boolean) {
  return new Promise<{ bytes: number; seconds: number; rss: Array<[number, number]> }>(
    (resolve, reject) => {
      let bytes = 0;
      const rss: Array<[number, number]> = [[0, rssMb(pid)]];
      const sampler = setInterval(() => rss.push([bytes, rssMb(pid)]), 50);
      const t = performance.now();
      let paused = false;
      const req = request(
        `http://127.0.0.1:${port}/api/alerts/export?format=csv`,
        {
          headers: {
            authorization: `Bearer ${token}`,
            ...(gzip ? { 'accept-encoding': 'gzip' } : {}),
          },
        },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`export answered ${res.statusCode}`));
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (!paused && bytes > (gzip ? 18e6 : 120e6)) {
              paused = true;
              res.pause();
              setTimeout(() => res.resume(), 3_000);
            }
          });
          res.on('end', () => {
            clearInterval(sampler);
            rss.push([bytes, rssMb(pid)]);
            resolve({ bytes, seconds: (performance.now() - t) / 1000, rss });
          });
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

/** The highest RSS sampled up to each tenth of the download: "before, 10%, 20%, …, 100%". */
function rssByProgress(r: { bytes: number; rss: Array<[number, number]> }): string {
  const marks = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
  return marks
    .map((m) => Math.max(...r.rss.filter(([b]) => b <= m * r.bytes).map(([, mb]) => mb)))
    .map((mb) => mb.toFixed(0))
    .join(' ');
}

async function measureExports() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--conditions=@tripwire/source', '--import', 'tsx', 'src/main.ts'],
    {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        OPERATOR_JWT_SECRET: SECRET,
        HOST: '127.0.0.1',
        PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        METRICS_PORT: String(await freePort()),
        BUS_KEY_PREFIX: `search-bench:${Date.now()}:`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
      } catch {}
      if (i > 600) throw new Error('fan-out did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const token = await createOperatorAuth(SECRET).issue('bench', 'viewer');
    // A small export first, so what is measured is the export, not the first request's warm-up.
    await fetch(`http://127.0.0.1:${port}/api/audit/export`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.text());
    const results: Array<[string, Awaited<ReturnType<typeof exportOnce>>]> = [];
    for (const gzip of [false, true])
      results.push([gzip ? 'CSV, gzip' : 'CSV', await exportOnce(port, child.pid!, token, gzip)]);
    return results;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main() {
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase({ databaseUrl });
  const pool = createPool({ databaseUrl, max: 4 });
  console.log(
    `TripWire search and export benchmark: ${fmt(ALERTS)} alerts, ${RUNS} runs per search`,
  );
  const loadS = await load(pool);
  console.log(
    `  loaded by COPY in ${loadS.toFixed(1)} s (${fmt(ALERTS / loadS)} rows/s), with the index`,
  );

  const indexed = await timeSearches(pool);
  await pool.query('DROP INDEX alerts_search_trgm_idx');
  const scanned = await timeSearches(pool);
  let t = performance.now();
  await pool.query(
    'CREATE INDEX alerts_search_trgm_idx ON alerts USING gin (alert_search_text(rule_name, event_detail) gin_trgm_ops)',
  );
  const buildS = (performance.now() - t) / 1000;
  const { rows } = await pool.query(
    "SELECT pg_size_pretty(sum(pg_relation_size(indexrelid))) AS idx, pg_size_pretty(sum(pg_relation_size(indrelid))) AS heap FROM pg_index WHERE indexrelid::regclass::text LIKE 'alerts%alert_search_text_idx'",
  );

  console.log(
    '\n  first page (100) of q, default 24 h range     with index: median / max      without: median / max',
  );
  for (const [q, note] of SEARCHES) {
    const a = indexed.get(q)!;
    const b = scanned.get(q)!;
    console.log(
      `  ${`"${q}" (${note}), ${a.found} rows`.padEnd(46)} ${a.median.toFixed(1).padStart(9)} / ${a.max.toFixed(1).padStart(7)} ms` +
        `   ${b.median.toFixed(1).padStart(9)} / ${b.max.toFixed(1).padStart(7)} ms   ${(b.median / a.median).toFixed(1)}x`,
    );
  }
  console.log(
    `  index build on ${fmt(ALERTS)} rows: ${buildS.toFixed(1)} s; index ${rows[0].idx} (table ${rows[0].heap})`,
  );

  t = performance.now();
  const exports = await measureExports();
  console.log(`\n  export of every row through the fan-out (a 3 s pause by the reader half-way)`);
  for (const [name, r] of exports) {
    console.log(
      `  ${name.padEnd(10)} ${(r.bytes / 1e6).toFixed(0).padStart(5)} MB in ${r.seconds.toFixed(1)} s ` +
        `(${fmt(ALERTS / r.seconds)} rows/s); fan-out RSS (MB) at start and after each tenth: ${rssByProgress(r)}`,
    );
  }

  await pool.end();
  const admin = createPool({ databaseUrl: serverUrl, max: 1 });
  await admin.query(`DROP DATABASE IF EXISTS "${benchDb.pathname.slice(1)}" WITH (FORCE)`);
  await admin.end();
  process.exit(0);
}

await main();
