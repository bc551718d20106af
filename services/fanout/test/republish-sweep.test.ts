// Alerts acknowledged while Redis hung must still reach browsers when the ingest that stored them
// dies with them in its publish backlog (docs/ingest.md, "The republish sweep"). While Redis fails,
// ingest acknowledges what it stored without waiting for the publish, so the agent never resends
// those alerts; a surviving ingest finds the dead instance's lock free, republishes its rows the
// ledger does not mark published, and the fan-out delivers each once (the chunk the dead one had
// in flight may reach Redis too when it wakes up: the fan-out drops that copy).
import { credentials } from '@grpc/grpc-js';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { IngestProcess } from '@tripwire/ingest/testing';
import { AlertServiceClient } from '@tripwire/proto';
import { RedisServerProcess } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  ENROLLMENT_TOKEN,
  publishAlerts,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { RawAgent as Agent } from './raw-agent.js';

const env = useEnvironment();
let redis: RedisServerProcess;
let fanout: RunningFanout;
let survivor: IngestProcess;
let viewer: string;

/** Sweeps often and soon, so the test is short; the defaults are 2 s and 10 s. */
const SWEEP = {
  INGEST_SWEEP_INTERVAL_MS: '200',
  INGEST_SWEEP_GRACE_MS: '500',
  // Every row stored before a new epoch is older than the resumes' margin (second test).
  INGEST_SWEEP_OVERLAP_MS: '0',
};

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  const servers = { ...env, redisUrl: redis.url };
  fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);
  survivor = await IngestProcess.create(servers, ENROLLMENT_TOKEN, SWEEP);
  await survivor.start();
  viewer = await auth.issue('sweep', 'viewer');
});
afterAll(async () => {
  redis?.signal('SIGCONT');
  await survivor?.stop();
  await fanout?.stop();
  await redis?.stop();
});

const publishedFlags = async (ids: string[]) =>
  (
    await env.pool.query<{ published: boolean }>(
      'SELECT published FROM alert_ids WHERE alert_id = ANY($1::uuid[])',
      [ids],
    )
  ).rows.map((r) => r.published);

const copiesOf = (all: string[], ids: string[]) =>
  ids.map((id) => all.filter((x) => x === id).length);

/** An ingest to kill, and an agent registered through it. */
async function doomedIngest() {
  const doomed = await IngestProcess.create({ ...env, redisUrl: redis.url }, ENROLLMENT_TOKEN, {
    ...SWEEP,
    // Redis failing is noticed fast, so acknowledgements stop waiting for the publish.
    REDIS_COMMAND_TIMEOUT_MS: '300',
    BATCH_MAX_DELAY_MS: '5',
  });
  await doomed.start();
  const client = new AlertServiceClient(doomed.address, credentials.createInsecure());
  return { doomed, client, agent: await Agent.register(client) };
}

describe('the republish sweep', () => {
  it('publishes what a killed ingest acknowledged while Redis hung: every browser gets each alert once', async () => {
    const { doomed, client, agent } = await doomedIngest();
    const browser = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: agent.hostId } });
    await until(() => browser.ofType('welcome').length === 1);

    redis.signal('SIGSTOP');
    // Three batches: the first chunk goes out to the frozen Redis, the rest wait in memory.
    const ids: string[] = [];
    // Sensor times one µs apart: the order a host's alerts are stored (and swept) in.
    let sensorUs = Date.now() * 1000;
    for (let batch = 0; batch < 3; batch++) {
      const events = Array.from({ length: 40 }, () => ({
        ...agent.event(),
        timestampUs: ++sensorUs,
      }));
      ids.push(...events.map((e) => e.alertId));
      const call = agent.stream(client, events);
      await until(() => events.every((e) => agent.acked.has(e.alertId)), 20_000, 'acknowledged');
      call.end();
    }
    // Acknowledged, stored, never marked: nothing will resend them.
    expect((await publishedFlags(ids)).filter(Boolean)).toEqual([]);
    await doomed.kill9();
    client.close();
    redis.signal('SIGCONT');

    await until(() => ids.every((id) => browser.alertIds().includes(id)), 30_000, 'swept');
    // A later alert through the survivor: whatever copies were coming came before it.
    const survivorClient = new AlertServiceClient(survivor.address, credentials.createInsecure());
    const last = agent.event();
    const call = agent.stream(survivorClient, [last]);
    try {
      await until(() => browser.alertIds().includes(last.alertId), 15_000, 'the later alert');
      expect(copiesOf(browser.alertIds(), ids)).toEqual(ids.map(() => 1));
      // In the order they were stored.
      expect(browser.alertIds().filter((id) => ids.includes(id))).toEqual(ids);
      await until(async () => (await publishedFlags(ids)).every(Boolean), 10_000, 'marked');
      // The dead instance's registration is gone once swept.
      await until(
        async () =>
          (await env.pool.query('SELECT 1 FROM ingest_instances WHERE dead_since IS NOT NULL'))
            .rowCount === 0,
        10_000,
        'registration removed',
      );
    } finally {
      call.end();
      survivorClient.close();
      browser.close();
    }
  }, 120_000);

  it('publishes in the new epoch what a killed ingest never got on the bus before Redis lost its data, when no resume reaches back to it', async () => {
    // Stored more than INGEST_SWEEP_OVERLAP_MS before the new epoch began (0 here; 30 s by
    // default, as WS_BACKFILL_OVERLAP_MS): a browser's resume from its last position before the
    // reset sends unmarked rows from that margin on, not these. Left to the resumes (as every
    // row before the epoch was), they reached nobody: a crowded node's `pnpm chaos` lost 10,397.
    const { doomed, client, agent } = await doomedIngest();
    let sensorUs = Date.now() * 1000;
    const send = async (n: number) => {
      // Sensor times rising: the order they are stored, and swept, in.
      const events = Array.from({ length: n }, () => ({
        ...agent.event(),
        timestampUs: ++sensorUs,
      }));
      const call = agent.stream(client, events);
      await until(() => events.every((e) => agent.acked.has(e.alertId)), 20_000, 'acknowledged');
      call.end();
      return events.map((e) => e.alertId);
    };
    // Published and marked in this epoch: the sweep sees the dead instance's span in it.
    const published = await send(5);
    await until(async () => (await publishedFlags(published)).every(Boolean), 10_000, 'marked');
    redis.signal('SIGSTOP');
    const stranded = await send(40);
    expect((await publishedFlags(stranded)).filter(Boolean)).toEqual([]);
    // The survivor must not sweep before Redis is back, empty.
    survivor.signal('SIGSTOP');
    await doomed.kill9();
    client.close();
    redis.signal('SIGCONT');
    await redis.restart();
    // Traffic of another host starts the new epoch before the survivor looks.
    const other = new BusPublisher({
      redis: createRedisClient(redis.url, { failFastWhileDisconnected: true }),
      keyPrefix: env.keyPrefix,
    });
    publishAlerts({ ...env, publisher: other }, [alertData()]);
    expect(await other.drain(10_000)).toBe(true);
    other.close();
    const browser = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: agent.hostId } });
    try {
      await until(() => browser.ofType('welcome').length === 1);
      survivor.signal('SIGCONT');
      await until(() => stranded.every((id) => browser.alertIds().includes(id)), 30_000, 'swept');
      expect(browser.alertIds()).toEqual(stranded);
    } finally {
      survivor.signal('SIGCONT');
      browser.close();
    }
  }, 120_000);
});
