// Redis high availability for real: a primary, an asynchronous replica and a Sentinel (Debian's
// redis-server and redis-sentinel, on free ports). The primary is killed during traffic; the
// Sentinel promotes the replica. The publisher must carry on on the new primary by itself, the
// new positions must carry a new epoch (the replica may reuse offsets the old primary handed
// out), and the subscriber must report the reset rather than skip or reuse anything in silence.
import { randomUUID } from 'node:crypto';
import {
  type RedisSentinelGroup,
  RedisServerProcess,
  replicationInfo,
  startRedisSentinelGroup,
  until,
} from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BusEntry, streamCounterKey } from '../src/bus-message.js';
import { BusPublisher } from '../src/bus-publisher.js';
import { BusSubscriber, type StreamGap } from '../src/bus-subscriber.js';
import { createRedisClient, type RedisClientOptions } from '../src/redis-client.js';
import { parsePosition } from '../src/stream-position.js';
import { alertMessage } from './alert-message.js';

const installed = RedisServerProcess.installed('redis-sentinel');
const title = installed
  ? 'Redis Sentinel failover'
  : 'Redis Sentinel failover (SKIPPED: redis-sentinel is not installed, e.g. apt-get install redis-sentinel)';

let group: RedisSentinelGroup;
const clients: Redis[] = [];

/** A connection that finds the primary through the Sentinel, as the services do with REDIS_SENTINELS. */
const viaSentinel = (options: RedisClientOptions = {}) => {
  const c = createRedisClient(group.primary.url, {
    ...options,
    sentinels: [{ host: '127.0.0.1', port: group.sentinel.port }],
    sentinelName: group.name,
    onError: () => {},
  });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  if (installed) group = await startRedisSentinelGroup();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await group?.stop();
});

const numberOf = (e: BusEntry) =>
  (e.message.data as { event_detail: { n: number } }).event_detail.n;

describe.skipIf(!installed)(title, () => {
  it('keeps publishing on the promoted replica under a new epoch, and the subscriber reports the reset', async () => {
    const keyPrefix = `sentinel:${randomUUID()}:`;
    const received: BusEntry[] = [];
    const gaps: StreamGap[] = [];
    const subscriber = new BusSubscriber({
      redis: viaSentinel(),
      keyPrefix,
      from: '0-0',
      blockMs: 200,
      replyMarginMs: 1_000,
      onEntries: (e) => received.push(...e),
      onGap: (g) => gaps.push(g),
    });
    subscriber.start();
    const publisher = new BusPublisher({
      redis: viaSentinel({ failFastWhileDisconnected: true, commandTimeoutMs: 1_000 }),
      keyPrefix,
      maxChunk: 5,
    });

    let sent = 0;
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        publisher.publish([alertMessage(sent++)]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await until(() => received.length >= 50, 10_000, 'traffic through the first primary');
    const firstEpoch = parsePosition(received[0]!.position).epoch;

    await group.primary.kill();
    const isNewEpoch = (e: BusEntry) => parsePosition(e.position).epoch !== firstEpoch;
    await until(
      () => received.filter(isNewEpoch).length >= 50,
      20_000,
      'traffic through the promoted replica (under a new epoch)',
    );
    sending = false;
    await traffic;
    expect(await publisher.drain(10_000)).toBe(true);
    await until(() => received.some((e) => numberOf(e) === sent - 1), 10_000, 'the last message');
    await subscriber.stop();

    // The publisher found the new primary by itself, and started a new epoch there.
    const { port } = group.replica;
    expect(await replicationInfo(port, 'role')).toBe('master');
    const promoted = createRedisClient(group.replica.url);
    clients.push(promoted);
    const counter = await promoted.hgetall(streamCounterKey(keyPrefix));
    expect(counter.replid).toBe(await replicationInfo(port, 'master_replid'));
    const secondEpoch = counter.epoch!;
    expect(secondEpoch).not.toBe(firstEpoch);

    // Two epochs, in order; positions never repeat; offsets contiguous within each.
    const epochs = received.map((e) => parsePosition(e.position).epoch);
    const switchAt = epochs.indexOf(secondEpoch);
    expect(new Set(epochs.slice(0, switchAt))).toEqual(new Set([firstEpoch]));
    expect(new Set(epochs.slice(switchAt))).toEqual(new Set([secondEpoch]));
    const positions = received.map((e) => e.position);
    expect(new Set(positions).size).toBe(positions.length);
    for (const i of received.keys()) {
      if (i === 0 || i === switchAt) continue;
      const [a, b] = [parsePosition(positions[i - 1]!), parsePosition(positions[i]!)];
      expect(b.offset).toBe(a.offset + 1n);
    }
    // The switch was reported, once, where it happened: the reader knows to reload.
    expect(gaps).toEqual([
      { after: positions[switchAt - 1], resumedAt: positions[switchAt], reason: 'reset' },
    ]);
    // Whatever the old primary took but never passed on falls inside that reported gap:
    // every message from the new epoch's first onwards arrived, in order.
    const firstAfter = numberOf(received[switchAt]!);
    const afterSwitch = received.slice(switchAt).map(numberOf);
    expect(afterSwitch).toEqual(
      Array.from({ length: sent - firstAfter }, (_, i) => firstAfter + i),
    );
  });
});
