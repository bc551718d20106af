// A resume served from PostgreSQL is exact: the ingest records each alert's bus position in the
// idempotency ledger when it marks it published, and the backfill leaves out the alerts recorded
// at or before the browser's position, even when no node remembers that position's epoch (Redis
// restarted empty and the fan-out restarted too). Before positions were recorded, the browser
// got every alert of the 30 s overlap margin before its position again.
import { BusPublisher, createRedisClient, parsePosition } from '@tripwire/bus';
import { RedisServerProcess } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  type RunningFanout,
  startFanout,
  startIngest,
  storeAlerts,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { RawAgent } from './raw-agent.js';

const env = useEnvironment();
let redis: RedisServerProcess;
let ingest: Awaited<ReturnType<typeof startIngest>>;
let fanout: RunningFanout;
let viewer: string;
let agent: RawAgent;

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  ingest = await startIngest({
    databaseUrl: env.databaseUrl,
    redisUrl: redis.url,
    keyPrefix: env.keyPrefix,
  });
  fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);
  viewer = await auth.issue('exact', 'viewer');
  agent = await RawAgent.register(ingest.client);
});
afterAll(async () => {
  await fanout?.stop();
  await ingest?.stop();
  await redis?.stop();
});

let sensorClock = Date.now() * 1000;

/**
 * Sends alerts through the ingest, the sensor's time rising (a flush's rows are stored in sensor
 * order), and waits for their acknowledgements.
 */
async function send(n: number, from = agent): Promise<string[]> {
  const events = Array.from({ length: n }, () => ({
    ...from.event(),
    timestampUs: ++sensorClock,
  }));
  const call = from.stream(ingest.client, events);
  const ids = events.map((e) => e.alertId);
  await until(() => ids.every((id) => from.acked.has(id)), 15_000, 'acknowledged');
  call.end();
  return ids;
}

/** What the ledger records for these alerts, in this order. */
async function ledgerPositions(ids: string[]) {
  const { rows } = await env.pool.query<{ published: boolean; position: string | null }>(
    `SELECT published, bus_epoch || ':' || bus_offset AS position FROM alert_ids
     WHERE alert_id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], alert_id)`,
    [ids],
  );
  return rows;
}

describe('a resume from PostgreSQL after Redis restarted empty and the fan-out restarted', () => {
  let sent: string[];
  let seen: Browser;

  it('the ledger records the position each alert was read at', async () => {
    seen = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: agent.hostId } });
    await until(() => seen.ofType('welcome').length === 1);
    // Three writes of 100: several flushes, several stream entries.
    sent = await send(300);
    await until(() => seen.alerts().length === 300, 15_000, 'delivered live');
    expect(seen.alertIds()).toEqual(sent);
    await until(
      async () => (await ledgerPositions(sent)).every((r) => r.published),
      10_000,
      'marked published',
    );
    const read = seen.alerts().map((f) => {
      const { epoch, offset } = parsePosition(f.position);
      return { published: true, position: `${epoch}:${offset}` };
    });
    expect(await ledgerPositions(sent)).toEqual(read);
  });

  it('sends exactly the alerts after the browser position: none of the overlap margin again', async () => {
    // The browser stopped reading after the 200th alert.
    const since = seen.alerts()[199]!.position;
    seen.close();
    await fanout.stop();
    await redis.restart();
    fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);
    // Stored and published in the new epoch, before the browser comes back.
    const later = await send(20);
    await until(
      async () => (await ledgerPositions(later)).every((r) => r.published),
      15_000,
      'the new epoch published',
    );

    const back = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { host_id: agent.hostId, since },
    });
    try {
      await until(() => back.alertIds().includes(later.at(-1)!), 15_000, 'the resume');
      expect(back.ofType('welcome')[0]!.resume).toMatchObject({
        since,
        status: 'replayed',
        source: 'database',
      });
      expect(back.alertIds()).toEqual([...sent.slice(200), ...later]);
      // And live afterwards, once.
      const live = await send(5);
      await until(() => back.alertIds().includes(live.at(-1)!), 15_000, 'live after the resume');
      expect(back.alertIds()).toEqual([...sent.slice(200), ...later, ...live]);
    } finally {
      back.close();
    }
  }, 60_000);

  it('waits for marks still being written: alerts the browser had are left out once marked', async () => {
    // Every mark UPDATE waits on a lock this test holds: alerts published and delivered, not
    // yet marked (the milliseconds after a publish, made long).
    const holder = await env.pool.connect();
    await holder.query('SELECT pg_advisory_lock(15150)');
    await env.pool.query(`
      CREATE FUNCTION test_hold_marks() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(15150); RETURN NEW; END $$;
      CREATE TRIGGER test_hold_marks BEFORE UPDATE OF published ON alert_ids
        FOR EACH ROW EXECUTE FUNCTION test_hold_marks();`);
    // A host of its own: the alerts of the epochs before are sent again by time (the ledger
    // cannot tell which of another epoch's alerts the browser had; docs/fanout.md).
    const host = await RawAgent.register(ingest.client);
    const live = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: host.hostId } });
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await holder.query('SELECT pg_advisory_unlock(15150)');
      holder.release();
    };
    try {
      await until(() => live.ofType('welcome').length === 1);
      const ids = await send(50, host);
      await until(() => live.alerts().length === 50, 15_000, 'delivered live');
      expect((await ledgerPositions(ids)).filter((r) => r.published)).toEqual([]);
      const since = live.alerts()[29]!.position;
      live.close();
      await fanout.stop();
      await redis.restart();
      fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);

      const back = new Browser(fanout.wsUrl, {
        token: viewer,
        query: { host_id: host.hostId, since },
      });
      try {
        await until(() => back.ofType('welcome').length === 1, 10_000, 'the welcome');
        expect(back.ofType('welcome')[0]!.resume).toMatchObject({ source: 'database' });
        // The backfill is reading unmarked rows from before `since`: the marks land now.
        await release();
        await until(() => back.alertIds().includes(ids.at(-1)!), 15_000, 'the resume');
        expect(back.alertIds()).toEqual(ids.slice(30));
      } finally {
        back.close();
      }
    } finally {
      await release();
      await env.pool.query('DROP TRIGGER test_hold_marks ON alert_ids');
    }
  }, 60_000);

  it('replays the new epoch whole: what it carries however long before `since` it was stored', async () => {
    // Stored two minutes before the browser's position and published only in the new epoch (an
    // ingest's backlog held them through Redis's outage longer than the overlap margin, or the
    // sweep republished them there): outside the backfill's time range, and before the window's
    // newest entry. Handed over there, the browser never got them.
    const host = await RawAgent.register(ingest.client);
    const live = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: host.hostId } });
    await until(() => live.ofType('welcome').length === 1);
    const had = await send(3, host);
    await until(() => live.alerts().length === 3, 15_000, 'delivered live');
    const since = live.alerts()[2]!.position;
    live.close();
    const held = await storeAlerts(
      env.pool,
      Array.from({ length: 4 }, () =>
        alertData({ host_id: host.hostId, timestamp_us: ++sensorClock }),
      ),
      new Date(Date.now() - 120_000),
    );
    await redis.restart();
    const publisher = new BusPublisher({
      redis: createRedisClient(redis.url, { failFastWhileDisconnected: true }),
      keyPrefix: env.keyPrefix,
    });
    publishAlerts({ ...env, publisher }, held);
    expect(await publisher.drain(10_000)).toBe(true);
    publisher.close();
    // Then more, stored and published as usual, in the new epoch; once a watcher has them, the
    // node has read the new epoch that far.
    const watcher = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: host.hostId } });
    const after = await send(2, host);
    await until(() => watcher.alertIds().includes(after.at(-1)!), 15_000, 'the node to read on');
    watcher.close();
    const back = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { host_id: host.hostId, since },
    });
    try {
      await until(() => back.alertIds().includes(after.at(-1)!), 15_000, 'the resume');
      expect(back.alertIds()).toEqual([...held.map((a) => a.alert_id), ...after]);
      expect(back.alertIds()).not.toContain(had[0]);
    } finally {
      back.close();
    }
  }, 60_000);
});
