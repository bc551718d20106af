// pnpm --filter @tripwire/fanout bench:notify
//
// Notifications (docs/notifications.md), two figures, each beside its baseline from the same run:
//  1. what the enqueue triggers cost ingest: insertAlerts throughput (batches of 100 alerts over
//     20 rules) with no route (baseline), with an incident route, and with a single-alert route;
//  2. delivery throughput of the worker to a local webhook receiver: one worker, then two.
//
//   DATABASE_URL  local server by default; the run uses a database of its own and drops it.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@tripwire/logger';
import {
  createNotificationRoute,
  createPool,
  ensureDatabaseExists,
  insertAlerts,
  migrateDatabase,
  type NotificationRouteInput,
  type Pool,
  upsertHost,
} from '@tripwire/storage';
import { Registry } from 'prom-client';
import { createNotificationMetrics } from '../src/notify/notification-metrics.js';
import { createNotificationWorker } from '../src/notify/notification-worker.js';
import { benchRun, cleanUpRun } from './bench-run.js';

const RUN = benchRun('notify');
const BATCHES = 100;
const DELIVERIES = 2_000;

const route = (over: Partial<NotificationRouteInput>): NotificationRouteInput => ({
  name: randomUUID(),
  enabled: true,
  events: ['opened', 'escalated', 'resolved'],
  minSeverity: 'INFO',
  hostIds: null,
  tripwireTypes: null,
  ruleNames: null,
  kind: 'webhook',
  config: { url: 'http://127.0.0.1:9/' },
  secrets: { secret: 'k' },
  template: null,
  throttlePerMinute: null,
  ...over,
});

async function ingestRate(pool: Pool, hostId: string) {
  const t0 = performance.now();
  for (let b = 0; b < BATCHES; b++)
    await insertAlerts(
      pool,
      Array.from({ length: 100 }, (_, i) => ({
        alertId: randomUUID(),
        hostId,
        occurredAtUs: Date.now() * 1000,
        tripwireType: 'FILE' as const,
        severity: 'WARN' as const,
        ruleName: `r${i % 20}`,
        eventDetailJson: '{"path":"/etc/passwd"}',
      })),
    );
  return (BATCHES * 100) / ((performance.now() - t0) / 1000);
}

async function deliveryRate(pool: Pool, hostId: string, workers: number) {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.end('ok');
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  await pool.query('DELETE FROM notification_routes');
  await createNotificationRoute(
    pool,
    route({ events: ['alert'], hostIds: [hostId], config: { url } }),
    'bench',
  );
  for (let i = 0; i < DELIVERIES; i += 100) await ingestRateOnce(pool, hostId);
  const log = createLogger({ name: 'bench', level: 'silent' });
  const t0 = performance.now();
  const running = Array.from({ length: workers }, () => {
    const w = createNotificationWorker({
      pool,
      log,
      metrics: createNotificationMetrics([new Registry()], pool),
      settings: {
        pollMs: 10,
        batchSize: 50,
        leaseS: 60,
        maxAttempts: 5,
        maxAgeS: 3600,
        backoffBaseS: 0.1,
        backoffMaxS: 1,
        send: { timeoutMs: 5000, allowPrivate: true, maxResponseBytes: 65_536 },
      },
    });
    w.start();
    return w;
  });
  while (received < DELIVERIES) await new Promise((r) => setTimeout(r, 5));
  const rate = DELIVERIES / ((performance.now() - t0) / 1000);
  await Promise.all(running.map((w) => w.stop()));
  server.close();
  return rate;
}

const ingestRateOnce = (pool: Pool, hostId: string) =>
  insertAlerts(
    pool,
    Array.from({ length: 100 }, () => ({
      alertId: randomUUID(),
      hostId,
      occurredAtUs: Date.now() * 1000,
      tripwireType: 'FILE' as const,
      severity: 'WARN' as const,
      ruleName: 'r',
      eventDetailJson: '{}',
    })),
  );

await ensureDatabaseExists(RUN.databaseUrl);
await migrateDatabase({ databaseUrl: RUN.databaseUrl });
const pool = createPool({ databaseUrl: RUN.databaseUrl, max: 4 });
try {
  const host = await upsertHost(pool, {
    hostname: `bench-${RUN.runId}`,
    platform: 'linux',
    agentVersion: '1',
    agentTokenHash: Buffer.from(randomUUID()),
  });
  const fmt = (n: number) => `${Math.round(n)}`.padStart(7);
  for (let round = 1; round <= 2; round++) {
    await pool.query('DELETE FROM notification_routes');
    const none = await ingestRate(pool, host.hostId);
    await createNotificationRoute(pool, route({}), 'bench');
    const incident = await ingestRate(pool, host.hostId);
    await createNotificationRoute(pool, route({ events: ['alert'] }), 'bench');
    const alerts = await ingestRate(pool, host.hostId);
    console.log(
      `round ${round} ingest alerts/s: no route ${fmt(none)} | incident route ${fmt(incident)} (${(incident / none).toFixed(2)}x) | + single-alert route ${fmt(alerts)} (${(alerts / none).toFixed(2)}x)`,
    );
  }
  const one = await deliveryRate(pool, host.hostId, 1);
  const two = await deliveryRate(pool, host.hostId, 2);
  console.log(
    `deliveries/s to a local webhook: 1 worker ${fmt(one)} | 2 workers ${fmt(two)} (${(two / one).toFixed(2)}x)`,
  );
} finally {
  await pool.end();
  console.log(await cleanUpRun(RUN));
}
