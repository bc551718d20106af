// Redis restarting empty (the default: it keeps nothing on disk) must not make a resuming browser
// miss alerts in silence: positions carry the stream's epoch, a restart starts a new one, the
// node tells its browsers (`stream_gap`), and a `since` from before the restart is refused,
// never answered "replayed, count 0" by comparing offsets of a counter that started again at 1.
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
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let redis: RedisServerProcess;
let publisherRedis: Redis;
let publisher: BusPublisher;
let fanout: RunningFanout;
let viewer: string;

beforeAll(async () => {
  redis = await RedisServerProcess.start();
  publisherRedis = createRedisClient(redis.url, {
    failFastWhileDisconnected: true,
    onError: () => {},
  });
  publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: env.keyPrefix });
  fanout = await startFanout(env, { BUS_READ_BLOCK_MS: '200' }, redis.url);
  viewer = await auth.issue('rita', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
  publisherRedis?.disconnect();
  await redis?.stop();
});

const publish = (n: number) => {
  const alerts = Array.from({ length: n }, () => alertData());
  publisher.publish(alerts.map((data) => ({ type: 'alert', data })));
  return alerts.map((a) => a.alert_id);
};

describe('Redis restarting empty', () => {
  it('starts a new epoch: browsers are told, and a pre-restart position is refused', async () => {
    const live = new Browser(fanout.wsUrl, { token: viewer });
    await live.opened;
    await until(() => live.ofType('welcome').length === 1);
    const before = publish(5);
    await until(() => live.alerts().length === 5, 10_000, 'the alerts before the restart');
    const lastSeen = live.alerts().at(-1)!.position;

    await redis.restart();
    const after = publish(5);
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

    const stale = new Browser(fanout.wsUrl, { token: viewer, query: { since: lastSeen } });
    await stale.opened;
    await until(() => stale.ofType('error').length === 1, 10_000, 'the refusal');
    expect(stale.ofType('welcome')[0]!.resume).toMatchObject({
      since: lastSeen,
      status: 'unavailable',
      reason: expect.stringMatching(/another stream epoch/),
    });
    expect(stale.ofType('error')[0]).toMatchObject({ code: 'resume_unavailable' });

    // A position of the new epoch resumes exactly, as before.
    const fresh = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { since: live.alerts()[6]!.position },
    });
    await fresh.opened;
    await until(() => fresh.alerts().length === 3, 10_000, 'the replay in the new epoch');
    expect(fresh.ofType('welcome')[0]!.resume).toMatchObject({ status: 'replayed', count: 3 });
    expect(fresh.alertIds()).toEqual(after.slice(2));
    for (const b of [live, stale, fresh]) b.close();
  });
});
