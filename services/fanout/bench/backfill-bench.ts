// How fast a resume reads PostgreSQL: 200,000 alerts from 50 hosts in 400 flushes over one
// hour, then every keyset page of the range (500 rows), unfiltered, CRITICAL only, one host; and
// unfiltered with every row looked up in the ledger for a browser position at the middle (every
// alert marked published with its position), the worst case of that lookup.
// Uses its own database next to DATABASE_URL's, dropped at the end.

import { randomUUID } from 'node:crypto';
import { parseCommandLine } from '@tripwire/config';
import {
  type AlertKeyset,
  createPool,
  ensureDatabaseExists,
  insertAlerts,
  markAlertsPublished,
  migrateDatabase,
  type PublishedAlert,
  type RowSelector,
  type SeenThrough,
  storedAlertsPage,
} from '@tripwire/storage';

parseCommandLine({
  usage: `usage: pnpm --filter @tripwire/fanout bench:backfill

How fast a resume reads PostgreSQL: 200,000 alerts, then every keyset page of the range
(BENCHMARKS.md). Takes no options; DATABASE_URL names the server (it creates and drops a
database of its own).`,
  options: {},
});

const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const url = new URL(base);
url.pathname = '/tripwire_bench_backfill';
await ensureDatabaseExists(url.href);
await migrateDatabase({ databaseUrl: url.href });
const pool = createPool({ databaseUrl: url.href });
const hosts = Array.from({ length: 50 }, () => randomUUID());
const start = Date.now() - 3_600_000;
for (let b = 0; b < 400; b++) {
  const batch = Array.from({ length: 500 }, (_, i) => ({
    alertId: randomUUID(),
    hostId: hosts[(b * 500 + i) % 50]!,
    occurredAtUs: (start + b * 9000) * 1000 + i,
    tripwireType: (['FILE', 'NETWORK', 'PROCESS'] as const)[i % 3]!,
    severity: (['INFO', 'WARN', 'CRITICAL'] as const)[(i * 7) % 3]!,
    ruleName: 'bench',
    eventDetailJson: '{"path":"/etc/passwd"}',
  }));
  await insertAlerts(pool, batch, { receivedAt: new Date(start + b * 9000) });
  const marks: PublishedAlert[] = batch.map((a, i) => ({
    alertId: a.alertId,
    busEpoch: 'bench',
    busOffset: BigInt(b * 500 + i + 1),
  }));
  await markAlertsPublished(pool, marks);
}
await pool.query('ANALYZE alerts');
await pool.query('ANALYZE alert_ids');
const any: RowSelector = { severities: [], tripwireTypes: [], hostIds: [] };
// Every row looked up (the bound is past the range), the first half left out.
const middle: SeenThrough = { epoch: 'bench', offset: 100_000n, lookUpBeforeUs: Date.now() * 1000 };
const cases: Array<[string, RowSelector[], SeenThrough | null]> = [
  ['every alert', [any], null],
  ['CRITICAL only', [{ ...any, severities: ['CRITICAL'] }], null],
  ['one host', [{ ...any, hostIds: [hosts[0]!] }], null],
  ['every alert, each looked up in the ledger', [any], middle],
];
for (const [name, selectors, seen] of cases) {
  let after: AlertKeyset | null = null;
  let pages = 0;
  let rows = 0;
  let slowest = 0;
  const began = performance.now();
  for (;;) {
    const t0 = performance.now();
    const page = await storedAlertsPage(pool, {
      fromUs: start * 1000,
      untilUs: Date.now() * 1000,
      after,
      selectors,
      limit: 500,
      seen,
    });
    slowest = Math.max(slowest, performance.now() - t0);
    pages++;
    rows += page.length;
    const last = page.at(-1);
    if (page.length < 500 || !last) break;
    after = { receivedUs: last.receivedUs, occurredUs: last.occurredAtUs, alertId: last.alertId };
  }
  const total = performance.now() - began;
  console.log(
    `${name}: ${rows} rows in ${pages} pages, ${total.toFixed(0)} ms, slowest page ${slowest.toFixed(1)} ms`,
  );
}
await pool.end();
const admin = createPool({ databaseUrl: base.href });
await admin.query('DROP DATABASE tripwire_bench_backfill');
await admin.end();
