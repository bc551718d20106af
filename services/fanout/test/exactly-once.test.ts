// Exactly once per socket, at any rate (docs/fanout.md#exactly-once). An ingest instance killed
// after Redis appended its alerts but before it marked them published leaves them unmarked: the
// instance that gets the agent's resend finds them in the stream and marks them there instead of
// publishing them again (stream-locator.ts), however many other alerts passed in between. A resend of an alert that was published and marked is not published
// again at all, so the fan-out does not even need to remember it.
import { credentials } from '@grpc/grpc-js';
import { createRedisClient, MESSAGE_FIELD, MESSAGE_SEPARATOR, streamKey } from '@tripwire/bus';
import { IngestProcess } from '@tripwire/ingest/testing';
import { AlertServiceClient } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  ENROLLMENT_TOKEN,
  publishAlerts,
  type RunningFanout,
  startFanout,
  startIngest,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { RawAgent as Agent } from './raw-agent.js';

const env = useEnvironment();
const redis = createRedisClient(env.redisUrl);
let viewer: string;
beforeAll(async () => {
  viewer = await auth.issue('exactly-once', 'viewer');
});
afterAll(() => redis.disconnect());

/** Every alert id in the event stream, as many times as Redis holds it. */
async function alertIdsOnBus(): Promise<string[]> {
  const entries = (await redis.xrange(streamKey(env.keyPrefix), '-', '+')) as Array<
    [string, string[]]
  >;
  const ids: string[] = [];
  for (const [, fields] of entries) {
    const body = fields[fields.indexOf(MESSAGE_FIELD) + 1]!;
    for (const m of body.split(MESSAGE_SEPARATOR)) {
      const parsed = JSON.parse(m);
      if (parsed.type === 'alert') ids.push(parsed.data.alert_id);
    }
  }
  return ids;
}

const copiesOf = (all: string[], ids: string[]) => {
  const wanted = new Set(ids);
  const counts = new Map<string, number>();
  for (const id of all) if (wanted.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return ids.map((id) => counts.get(id) ?? 0);
};

/** The Redis clock's milliseconds in a position ("<ms>-<offset>", perhaps after "<epoch>:"). */
const streamMs = (position: string) => Number(position.split(':').pop()!.split('-')[0]);

const publishedFlags = async (ids: string[]) =>
  (
    await env.pool.query<{ published: boolean }>(
      'SELECT published FROM alert_ids WHERE alert_id = ANY($1::uuid[])',
      [ids],
    )
  ).rows.map((r) => r.published);

/**
 * Makes every "mark published" UPDATE fail, as if each ingest died right before it: the state a
 * kill between the append and the mark leaves behind, made certain instead of a race.
 */
async function refuseMarks(): Promise<() => Promise<void>> {
  await env.pool.query(`
    CREATE OR REPLACE FUNCTION test_refuse_marks() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the test refuses published marks'; END $$;
    CREATE TRIGGER test_refuse_marks BEFORE UPDATE OF published ON alert_ids
      FOR EACH ROW EXECUTE FUNCTION test_refuse_marks();`);
  return async () => {
    await env.pool.query('DROP TRIGGER test_refuse_marks ON alert_ids');
  };
}

const ALERTS = 200;

describe('exactly once per socket', () => {
  let fanout: RunningFanout;
  beforeAll(async () => {
    fanout = await startFanout(env);
  });
  afterAll(async () => {
    await fanout?.stop();
  });

  it('an ingest killed between publish and mark: the resend is found in the stream and marked there, not published again, with 100,001 other alerts in between', async () => {
    const first = await IngestProcess.create(env, ENROLLMENT_TOKEN, { BATCH_MAX_DELAY_MS: '5' });
    await first.start();
    const client1 = new AlertServiceClient(first.address, credentials.createInsecure());
    const agent = await Agent.register(client1);
    const browser = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: agent.hostId } });
    await until(() => browser.ofType('welcome').length === 1);

    const allowMarks = await refuseMarks();
    const events = Array.from({ length: ALERTS }, () => agent.event());
    const ids = events.map((e) => e.alertId);
    agent.stream(client1, events);
    await until(() => ids.every((id) => browser.alertIds().includes(id)), 15_000, 'published');
    // On the bus, not marked: the window a kill -9 can leave. The acks die with the instance.
    expect((await publishedFlags(ids)).filter(Boolean)).toEqual([]);
    await first.kill9();
    client1.close();
    await allowMarks();

    // More than the 100,000 ids a count-bounded memory held, then a marker to know they are through.
    const others = Array.from({ length: 100_001 }, () => alertData());
    for (let i = 0; i < others.length; i += 5_000) {
      publishAlerts(env, others.slice(i, i + 5_000));
      // Within the publisher's backlog: an overflow would be a gap, not this test's subject.
      await env.publisher.drain();
    }
    const marker = alertData({ host_id: agent.hostId });
    publishAlerts(env, [marker]);
    await until(() => browser.alertIds().includes(marker.alert_id), 60_000, 'the others passed');

    // The agent resends everything unacknowledged to the next instance, then one new alert.
    const next = await startIngest(env);
    const last = agent.event();
    const call = agent.stream(next.client, [...events, last]);
    try {
      await until(() => browser.alertIds().includes(last.alertId), 15_000, 'resend delivered');
      // The stream held them: one copy each (before the search, the resend put a second there).
      expect(copiesOf(await alertIdsOnBus(), ids)).toEqual(ids.map(() => 1));
      expect(copiesOf(browser.alertIds(), [...ids, last.alertId])).toEqual(
        [...ids, last.alertId].map(() => 1),
      );
      // The next instance marked them where the stream holds them.
      await until(async () => (await publishedFlags(ids)).every(Boolean), 10_000, 'marked');
    } finally {
      call.end();
      browser.close();
      await next.stop();
    }
  }, 120_000);
});

describe('a resend of an alert published and marked', () => {
  let fanout: RunningFanout;
  beforeAll(async () => {
    // A one-second memory: whatever reaches browsers once here is down to the ledger.
    fanout = await startFanout(env, { ALERT_DEDUPE_WINDOW_S: '1' });
  });
  afterAll(async () => {
    await fanout?.stop();
  });

  it('is not published again, so browsers see it once even after the fan-out forgot it', async () => {
    const ingest = await startIngest(env);
    const agent = await Agent.register(ingest.client);
    const browser = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: agent.hostId } });
    try {
      await until(() => browser.ofType('welcome').length === 1);
      const events = Array.from({ length: 50 }, () => agent.event());
      const ids = events.map((e) => e.alertId);
      const call = agent.stream(ingest.client, events);
      await until(() => ids.every((id) => agent.acked.has(id)), 15_000, 'acknowledged');
      await until(() => ids.every((id) => browser.alertIds().includes(id)), 15_000, 'delivered');
      await until(async () => (await publishedFlags(ids)).every(Boolean), 10_000, 'marked');
      call.end();

      // Stream time moves more than the window past the originals (filler for another host).
      const firstMs = streamMs(browser.alerts().find((f) => f.data.alert_id === ids[0])!.position);
      await until(
        async () => {
          publishAlerts(env, [alertData()]);
          const [newest] = (await redis.xrevrange(
            streamKey(env.keyPrefix),
            '+',
            '-',
            'COUNT',
            1,
          )) as [[string, string[]]];
          return streamMs(newest[0]) > firstMs + 2_500;
        },
        20_000,
        'stream time past the window',
      );

      const last = agent.event();
      const again = agent.stream(ingest.client, [...events, last]);
      await until(() => browser.alertIds().includes(last.alertId), 15_000, 'resend handled');
      again.end();
      expect(copiesOf(browser.alertIds(), [...ids, last.alertId])).toEqual(
        [...ids, last.alertId].map(() => 1),
      );
      expect(copiesOf(await alertIdsOnBus(), ids)).toEqual(ids.map(() => 1));
    } finally {
      browser.close();
      await ingest.stop();
    }
  }, 60_000);
});
