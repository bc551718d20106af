// Redis restarting empty (the default: it keeps nothing on disk) must not make a resuming browser
// miss alerts, nor get any twice: positions carry the stream's epoch, a restart starts a new one,
// the node tells its browsers (`stream_gap`), and a `since` from before the restart is served from
// PostgreSQL (where every alert is) without the alerts the browser had, then goes live. Never
// "replayed, count 0" by comparing offsets of a counter that started again at 1.
import { BusPublisher, createRedisClient, parsePosition } from '@tripwire/bus';
import { RedisServerProcess } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  type RunningFanout,
  startFanout,
  storeAlerts,
  testHost,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let redis: RedisServerProcess;
let publisherRedis: Redis;
let publisher: BusPublisher;
let fanout: RunningFanout;
let viewer: string;
let hostId: string;
let clock = Date.now() * 1000;

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  publisherRedis = createRedisClient(redis.url, {
    failFastWhileDisconnected: true,
    onError: () => {},
  });
  publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: env.keyPrefix });
  fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);
  viewer = await auth.issue('rita', 'viewer');
  hostId = (await testHost(env.pool)).hostId;
});
afterAll(async () => {
  await fanout?.stop();
  publisherRedis?.disconnect();
  await redis?.stop();
});

/** What ingest does with each alert, one flush after another: COMMIT, then publish. */
const storeAndPublish = async (n: number) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    clock += 1;
    const alert = alertData({ host_id: hostId, timestamp_us: clock });
    const [stored] = await storeAlerts(env.pool, [alert]);
    publisher.publish([{ type: 'alert', data: stored! }]);
    ids.push(alert.alert_id);
  }
  return ids;
};

const positionOf = (b: Browser, alertId: string) =>
  b.alerts().find((a) => a.data.alert_id === alertId)!.position;

describe('Redis restarting empty', () => {
  it('starts a new epoch: browsers are told, and a pre-restart position gets every alert it missed once, in order', async () => {
    const live = new Browser(fanout.wsUrl, { token: viewer });
    await live.opened;
    await until(() => live.ofType('welcome').length === 1);
    const before = await storeAndPublish(5);
    await until(() => live.alerts().length === 5, 10_000, 'the alerts before the restart');
    const lastSeen = positionOf(live, before[4]!);
    // A browser that went away earlier, after the third alert.
    const earlier = positionOf(live, before[2]!);

    await redis.restart();
    const after = await storeAndPublish(5);
    await until(() => live.alerts().length === 10, 15_000, 'the alerts after the restart');
    expect(live.alertIds()).toEqual([...before, ...after]);
    // The node said so before the first alert of the new epoch.
    const gapAt = live.frames.findIndex((f) => f.type === 'error' && f.code === 'stream_gap');
    expect(live.frames[gapAt]).toMatchObject({ message: expect.stringMatching(/reset/) });
    expect(gapAt).toBeLessThan(live.frames.indexOf(live.alerts()[5] as never));
    const newEpoch = parsePosition(live.alerts()[5]!.position).epoch;
    expect(newEpoch).not.toBe(parsePosition(lastSeen).epoch);
    // The counter restarted: offset 5 of the old epoch equals the newest offset of the new one.
    expect(parsePosition(live.alerts()[9]!.position).offset).toBe(parsePosition(lastSeen).offset);

    // Every alert was stored within the overlap margin before both positions: PostgreSQL alone
    // would send them all again. The node remembers which ones the browsers had.
    const stale = new Browser(fanout.wsUrl, { token: viewer, query: { since: lastSeen } });
    const gone = new Browser(fanout.wsUrl, { token: viewer, query: { since: earlier } });
    await until(
      () => stale.alerts().length >= 5 && gone.alerts().length >= 7,
      10_000,
      'the backfills',
    );
    for (const [b, since] of [
      [stale, lastSeen],
      [gone, earlier],
    ] as const) {
      expect(b.ofType('welcome')[0]!.resume).toEqual({
        since,
        status: 'replayed',
        source: 'database',
      });
      expect(b.ofType('error')).toEqual([]);
    }
    expect(stale.alertIds()).toEqual(after);
    expect(gone.alertIds()).toEqual([...before.slice(3), ...after]);

    // Then live, each alert once.
    const later = await storeAndPublish(2);
    await until(
      () => [stale, gone, live].every((b) => b.alertIds().includes(later[1]!)),
      10_000,
      'live after the backfill',
    );
    expect(stale.alertIds()).toEqual([...after, ...later]);
    expect(gone.alertIds()).toEqual([...before.slice(3), ...after, ...later]);

    // A position of the new epoch resumes from memory, exactly, as before.
    const fresh = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { since: positionOf(live, after[1]!) },
    });
    await until(() => fresh.alerts().length === 5, 10_000, 'the replay in the new epoch');
    expect(fresh.ofType('welcome')[0]!.resume).toMatchObject({
      status: 'replayed',
      source: 'memory',
      count: 5,
    });
    expect(fresh.alertIds()).toEqual([...after.slice(2), ...later]);
    for (const b of [live, stale, gone, fresh]) b.close();
  });
});
