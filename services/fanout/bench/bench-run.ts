/**
 * What a benchmark run that starts the services owns: a database of its own (created, migrated
 * and dropped at the end: the audit log is append-only, so rows cannot be deleted one by one),
 * a Redis key prefix of its own (deleted at the end), and the fan-out's readiness.
 */
import { randomUUID } from 'node:crypto';
import { type BusPublisher, createRedisClient, serializeAlertMessage } from '@tripwire/bus';
import { createPool } from '@tripwire/storage';
import { type BuiltService, untilOk } from './bench-process.js';

export interface BenchRun {
  /** Names what the run creates (hosts, keys, the database). */
  runId: string;
  redisUrl: string;
  prefix: string;
  /** The server's database the run's own is created from and dropped through. */
  adminDatabaseUrl: string;
  databaseUrl: string;
}

/** `tripwire_bench_<name>_<time>` and `bench:<name>:<time>:` on the servers of the environment. */
export function benchRun(name: string): BenchRun {
  const runId = Date.now().toString(36);
  const adminDatabaseUrl =
    process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/tripwire_bench_${name}_${runId}`;
  return {
    runId,
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: `bench:${name}:${runId}:`,
    adminDatabaseUrl,
    databaseUrl: url.toString(),
  };
}

/** Deletes the run's Redis keys and drops its database; says what it did. */
export async function cleanUpRun(run: BenchRun): Promise<string> {
  const redis = createRedisClient(run.redisUrl);
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${run.prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  const admin = createPool({ databaseUrl: run.adminDatabaseUrl, max: 1 });
  const name = new URL(run.databaseUrl).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  return `cleaned up ${deleted} Redis keys under ${run.prefix} and dropped database ${name}`;
}

/**
 * Until the fan-out at `base` is healthy and ready. Readiness waits for the first XREAD to
 * answer, which an empty stream makes take its full 5 s block: a priming alert (on a host of
 * its own, which no client of the benchmark watches) answers it at once.
 */
export async function untilFanoutReady(
  fanout: BuiltService,
  base: string,
  publisher: BusPublisher,
): Promise<void> {
  await untilOk(fanout, `${base}/healthz`, 30_000);
  let polls = 0;
  await untilOk(fanout, `${base}/readyz`, 15_000, () => {
    if (polls++ % 5 === 0) publisher.publishSerialized([primingAlert()]);
  });
}

function primingAlert(): string {
  const at = new Date();
  return serializeAlertMessage(
    {
      alert_id: randomUUID(),
      host_id: randomUUID(),
      hostname: 'bench-priming',
      timestamp: at.toISOString(),
      timestamp_us: at.getTime() * 1000,
      received_at: at.toISOString(),
      tripwire_type: 'FILE',
      rule_name: 'bench-priming',
      severity: 'INFO',
    },
    null,
  );
}
