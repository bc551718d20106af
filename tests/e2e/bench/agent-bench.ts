// pnpm bench:agent — how fast the agent makes alerts durable and delivers them, next to the
// obvious alternatives measured in the same run on the same disk and server:
//   outbox:   BENCH_ALERTS concurrent enqueues into the Outbox (one writer, one fdatasync per
//             write of everything queued meanwhile), against one write + fdatasync per alert
//             (what a straightforward durable queue does; BENCH_NAIVE_ALERTS of them)
//   delivery: the SDK client (outbox + StreamAlertBatches) to the real ingest service until
//             every alert is acknowledged, against unary SubmitAlert calls one after another
// Knobs: BENCH_ALERTS (20000), BENCH_NAIVE_ALERTS (2000, the fsync baseline),
// BENCH_UNARY_ALERTS (500, the SubmitAlert baseline), DATABASE_URL / REDIS_URL.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { createAgentClient, Outbox, type OutboxAlert } from '@tripwire/agent-sdk';
import { createRedisClient, redisBus } from '@tripwire/bus';
import { parseCommandLine } from '@tripwire/config';
import { createIngestServer, loadConfig } from '@tripwire/ingest';
import { createLogger } from '@tripwire/logger';
import { AlertServiceClient, Severity, TripwireType } from '@tripwire/proto';
import { createPool, ensureDatabaseExists, migrateDatabase } from '@tripwire/storage';

parseCommandLine({
  usage: `usage: pnpm bench:agent

The agent's outbox durability and delivery rate against naive baselines (BENCHMARKS.md).
Takes no options; settings come from the environment:
  BENCH_ALERTS        alerts through the outbox (default 20000)
  BENCH_NAIVE_ALERTS  alerts with one fdatasync each (default 2000)
  BENCH_UNARY_ALERTS  alerts sent one unary call each (default 500)
  DATABASE_URL, REDIS_URL   the servers (a database and key prefix of its own)`,
  options: {},
});

const ALERTS = Number(process.env.BENCH_ALERTS ?? 20_000);
const NAIVE_ALERTS = Number(process.env.BENCH_NAIVE_ALERTS ?? 2_000);
const UNARY_ALERTS = Number(process.env.BENCH_UNARY_ALERTS ?? 500);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = (() => {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = '/tripwire_bench_agent';
  return url.toString();
})();
const ENROLLMENT = `bench-enrollment-${randomUUID()}`;
const PREFIX = `bench:agent:${Date.now()}:`;

const detail = (i: number) => ({
  path: `/etc/app/conf.d/${i}.conf`,
  change: 'modified',
  old_sha256: 'ab'.repeat(32),
  new_sha256: 'cd'.repeat(32),
  old_mode: '0644',
  new_mode: '0644',
  uid: 0,
  gid: 0,
  size: 1234,
});
const outboxAlert = (i: number): OutboxAlert => ({
  alertId: randomUUID(),
  tripwireType: 'FILE',
  severity: 'WARN',
  ruleName: 'app-config',
  timestampUs: Date.now() * 1000,
  detailJson: JSON.stringify(detail(i)),
});
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const row = (name: string, n: number, ms: number, extra = '') =>
  console.log(
    `  ${name.padEnd(44)} ${String(rate(n, ms)).padStart(9)} alerts/s  (${n} in ${ms.toFixed(0)} ms)${extra}`,
  );

async function outboxFigures() {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-outbox-'));
  try {
    const outbox = await Outbox.open({ path: join(dir, 'outbox.log'), maxBytes: 1024 ** 3 });
    let t = performance.now();
    await Promise.all(Array.from({ length: ALERTS }, (_, i) => outbox.append(outboxAlert(i))));
    const groupMs = performance.now() - t;
    const fsyncs = outbox.fsyncs;
    await outbox.close();
    t = performance.now();
    const reopened = await Outbox.open({ path: join(dir, 'outbox.log'), maxBytes: 1024 ** 3 });
    const recoverMs = performance.now() - t;
    const recovered = reopened.size;
    await reopened.close();

    const file = await open(join(dir, 'naive.log'), 'a');
    t = performance.now();
    for (let i = 0; i < NAIVE_ALERTS; i++) {
      await file.write(`${JSON.stringify(outboxAlert(i))}\n`);
      await file.datasync();
    }
    const naiveMs = performance.now() - t;
    await file.close();

    console.log('outbox: alerts made durable (fdatasync) on this disk');
    row('one write + fdatasync per alert (baseline)', NAIVE_ALERTS, naiveMs);
    row('Outbox, concurrent enqueues (group fsync)', ALERTS, groupMs, `, ${fsyncs} fsyncs`);
    console.log(
      `  ratio ${(rate(ALERTS, groupMs) / rate(NAIVE_ALERTS, naiveMs)).toFixed(1)}x; reopening ${recovered} alerts took ${recoverMs.toFixed(0)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function deliveryFigures() {
  await ensureDatabaseExists(DATABASE_URL);
  await migrateDatabase({ databaseUrl: DATABASE_URL });
  const pool = createPool({ databaseUrl: DATABASE_URL });
  const redis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const ingest = createIngestServer({
    config: loadConfig({
      DATABASE_URL,
      REDIS_URL,
      ENROLLMENT_TOKEN: ENROLLMENT,
      GRPC_INSECURE: 'true',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      BUS_KEY_PREFIX: PREFIX,
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'silent',
    }),
    pool,
    bus: redisBus({ publisher: redis, subscriber: createRedisClient(REDIS_URL) }),
    log: createLogger({ name: 'bench', level: 'silent' }),
  });
  const { grpcPort } = await ingest.start();
  const grpc = new AlertServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  const stateDir = mkdtempSync(join(tmpdir(), 'tw-bench-agent-'));
  try {
    const client = createAgentClient({
      server: `127.0.0.1:${grpcPort}`,
      enrollmentToken: ENROLLMENT,
      stateDir,
      hostname: `bench-${randomUUID().slice(0, 8)}`,
      agentVersion: 'bench',
      outboxMaxBytes: 1024 ** 3,
    });
    await client.start();
    let t = performance.now();
    await Promise.all(
      Array.from({ length: ALERTS }, (_, i) =>
        client.enqueue({
          tripwireType: 'FILE',
          severity: 'WARN',
          ruleName: 'app-config',
          detail: detail(i),
        }),
      ),
    );
    const flushed = await client.flush(300_000);
    const sdkMs = performance.now() - t;
    const hostId = client.hostId;
    await client.stop();
    if (!flushed) throw new Error('the SDK did not deliver everything in time');

    // The same host's token, through unary SubmitAlert, one call after another.
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) => {
      const m = new Metadata();
      m.set('authorization', `Bearer ${ENROLLMENT}`);
      grpc.registerAgent(
        {
          hostname: `bench-unary-${randomUUID().slice(0, 8)}`,
          platform: 'linux',
          agentVersion: 'bench',
        },
        m,
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });
    const auth = new Metadata();
    auth.set('authorization', `Bearer ${reg.agentToken}`);
    t = performance.now();
    for (let i = 0; i < UNARY_ALERTS; i++) {
      await new Promise((resolve, reject) =>
        grpc.submitAlert(
          {
            alertId: randomUUID(),
            hostId: reg.hostId,
            tripwireType: TripwireType.FILE,
            severity: Severity.WARN,
            timestampUs: Date.now() * 1000,
            ruleName: 'app-config',
            eventDetailJson: JSON.stringify(detail(i)),
          },
          auth,
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
    }
    const unaryMs = performance.now() - t;
    const stored = Number(
      (await pool.query('SELECT count(*) AS n FROM alerts WHERE host_id = $1', [hostId])).rows[0].n,
    );
    console.log(
      '\ndelivery: enqueued/sent until acknowledged by the real ingest service (stored in PostgreSQL)',
    );
    row('unary SubmitAlert, one at a time (baseline)', UNARY_ALERTS, unaryMs);
    row('SDK client: outbox + StreamAlertBatches', ALERTS, sdkMs, `, ${stored} stored`);
    console.log(`  ratio ${(rate(ALERTS, sdkMs) / rate(UNARY_ALERTS, unaryMs)).toFixed(1)}x`);
  } finally {
    grpc.close();
    await ingest.stop();
    redis.disconnect();
    await pool.end();
    rmSync(stateDir, { recursive: true, force: true });
    const cleanup = createRedisClient(REDIS_URL);
    const keys = await cleanup.keys(`${PREFIX}*`);
    if (keys.length) await cleanup.del(...keys);
    cleanup.disconnect();
  }
}

await outboxFigures();
await deliveryFigures();
