// Positions that survive Redis losing its data: every position carries the stream's epoch, a
// Redis that comes back empty starts a new one, and a subscriber reports the reset instead of
// taking offset 1 of the new counter for something it has already seen.
import { randomUUID } from 'node:crypto';
import { provisionRedis, RedisServerProcess, type TestRedis, until } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BusEntry, streamCounterKey, streamKey } from '../src/bus-message.js';
import { BusPublisher } from '../src/bus-publisher.js';
import { BusSubscriber, type StreamGap } from '../src/bus-subscriber.js';
import { createRedisClient } from '../src/redis-client.js';
import { parsePosition, streamIdOf } from '../src/stream-position.js';
import { alertMessage } from './alert-message.js';

let own: RedisServerProcess;
let shared: TestRedis;
const clients: Redis[] = [];
const client = (url: string, failFast = false) => {
  // Refused connections while the server restarts are expected: ioredis reconnects.
  const c = createRedisClient(url, { failFastWhileDisconnected: failFast, onError: () => {} });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  // A Redis of this file's own, to restart empty; the shared one for the rest.
  [own, shared] = await Promise.all([RedisServerProcess.start(), provisionRedis()]);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await own.stop();
  await shared.cleanup();
});

function follow(url: string, keyPrefix: string, from: string) {
  const received: BusEntry[] = [];
  const gaps: StreamGap[] = [];
  const subscriber = new BusSubscriber({
    redis: client(url),
    keyPrefix,
    from,
    blockMs: 200,
    replyMarginMs: 1_000,
    onEntries: (e) => received.push(...e),
    onGap: (g) => gaps.push(g),
  });
  subscriber.start();
  return { received, gaps, subscriber };
}

const epochOf = (e: BusEntry) => parsePosition(e.position).epoch;
const offsetOf = (e: BusEntry) => parsePosition(e.position).offset;

/** Offsets climb by exactly one from entry to entry. */
function expectContiguous(entries: BusEntry[]) {
  for (let i = 1; i < entries.length; i++) {
    expect(offsetOf(entries[i]!)).toBe(offsetOf(entries[i - 1]!) + 1n);
  }
}

describe('stream epochs', () => {
  it('Redis restarting empty starts a new epoch, and subscribers report the reset', async () => {
    const keyPrefix = `epoch:${randomUUID()}:`;
    const sub = follow(own.url, keyPrefix, '0-0');
    // Two publishers, one chunk per message: the epoch is the stream's, not a publisher's.
    const a = new BusPublisher({ redis: client(own.url, true), keyPrefix, maxChunk: 1 });
    const b = new BusPublisher({ redis: client(own.url, true), keyPrefix, maxChunk: 1 });
    for (let i = 0; i < 6; i++) (i % 2 ? a : b).publish([alertMessage(i)]);
    await until(() => sub.received.length === 6, 10_000, 'the first epoch');
    const before = sub.received.slice();
    expect(new Set(before.map(epochOf)).size).toBe(1);
    expect(epochOf(before[0]!)).toMatch(/^[0-9a-z]{1,16}$/);
    expectContiguous(before);

    await own.restart();
    a.publish([6, 7, 8].map(alertMessage));
    await until(() => sub.received.length === 9, 15_000, 'the messages after the restart');
    const after = sub.received.slice(6);
    expect(
      after.map((e) => (e.message.data as { event_detail: { n: number } }).event_detail.n),
    ).toEqual([6, 7, 8]);
    // The counter restarted at 1 under a new epoch: not mistaken for positions already seen.
    expect(epochOf(after[0]!)).not.toBe(epochOf(before[0]!));
    expect(offsetOf(after.at(-1)!)).toBe(3n);
    expectContiguous(after);
    expect(sub.gaps).toEqual([
      { after: before.at(-1)!.position, resumedAt: after[0]!.position, reason: 'reset' },
    ]);

    // A reader resuming from a position of the old epoch is told, and reads the new one whole.
    const late = follow(own.url, keyPrefix, before[2]!.position);
    await until(() => late.received.length === 3, 10_000, 'the late reader');
    expect(late.received.map((e) => e.position)).toEqual(after.map((e) => e.position));
    expect(late.gaps).toEqual([
      { after: before[2]!.position, resumedAt: after[0]!.position, reason: 'reset' },
    ]);
    await Promise.all([sub.subscriber.stop(), late.subscriber.stop()]);
  });

  it('finds a reset in the counter when the new epoch hands out IDs below the cursor', async () => {
    // A promoted replica whose clock is behind the old primary's appends below the reader's
    // cursor, where XREAD would skip it without a word. Forged here with a counter an hour ahead.
    const keyPrefix = `${shared.keyPrefix}below:`;
    const admin = client(shared.redisUrl);
    await admin.hset(streamCounterKey(keyPrefix), 'ms', Date.now() + 3_600_000, 'offset', 0);
    const publisher = new BusPublisher({ redis: client(shared.redisUrl, true), keyPrefix });
    const sub = follow(shared.redisUrl, keyPrefix, '0-0');
    publisher.publish([alertMessage(1), alertMessage(2)]);
    await until(() => sub.received.length === 2, 10_000, 'the entries an hour ahead');
    const lastSeen = sub.received[1]!.position;

    // Redis loses its data; the new epoch's IDs are "now", an hour below the cursor.
    await admin.del(streamKey(keyPrefix), streamCounterKey(keyPrefix));
    publisher.publish([alertMessage(3)]);
    await until(() => sub.received.length === 3, 10_000, 'the entry below the cursor');
    expect(parsePosition(sub.received[2]!.position).ms).toBeLessThan(parsePosition(lastSeen).ms);
    expect(sub.gaps).toEqual([
      { after: lastSeen, resumedAt: sub.received[2]!.position, reason: 'reset' },
    ]);
    await sub.subscriber.stop();
  });

  it('reads a new epoch from its start when its first IDs sort below the cursor and later ones above', async () => {
    const keyPrefix = `${shared.keyPrefix}straddle:`;
    const admin = client(shared.redisUrl);
    await admin.hset(streamCounterKey(keyPrefix), 'ms', Date.now() + 3_600_000, 'offset', 0);
    const publisher = new BusPublisher({ redis: client(shared.redisUrl, true), keyPrefix });
    const received: BusEntry[] = [];
    const gaps: StreamGap[] = [];
    // A long block: the reader stays inside one XREAD BLOCK while the new epoch starts.
    const subscriberRedis = client(shared.redisUrl);
    await subscriberRedis.client('SETNAME', `straddle-${randomUUID()}`);
    const name = await subscriberRedis.client('GETNAME');
    const subscriber = new BusSubscriber({
      redis: subscriberRedis,
      keyPrefix,
      from: '0-0',
      blockMs: 10_000,
      onEntries: (e) => received.push(...e),
      onGap: (g) => gaps.push(g),
    });
    subscriber.start();
    publisher.publish([alertMessage(1), alertMessage(2)]);
    await until(() => received.length === 2, 10_000, 'the entries an hour ahead');
    const blocked = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .some(
          (line: string) =>
            line.includes(`name=${name} `) && / cmd=xread /.test(line) && / flags=b /.test(line),
        );
    await until(blocked, 10_000, 'the reader to block');

    // Redis loses its data; the new epoch's first entry is "now", an hour below the cursor...
    await admin.del(streamKey(keyPrefix), streamCounterKey(keyPrefix));
    await until(blocked, 10_000, 'the reader to block again');
    publisher.publish([alertMessage(3)]);
    expect(await publisher.drain()).toBe(true);
    // ...and a later one two hours ahead, above it: the only one a read after the cursor sees.
    await admin.hset(streamCounterKey(keyPrefix), 'ms', Date.now() + 7_200_000);
    publisher.publish([alertMessage(4)]);
    await until(() => received.length === 4, 10_000, 'the new epoch, whole');
    expect(
      received.map((e) => (e.message.data as { event_detail: { n: number } }).event_detail.n),
    ).toEqual([1, 2, 3, 4]);
    expect(gaps).toEqual([
      { after: received[1]!.position, resumedAt: received[2]!.position, reason: 'reset' },
    ]);
    await subscriber.stop();
  });

  it('takes an epoch-less position (an earlier release) as a point in the stream', async () => {
    const keyPrefix = `${shared.keyPrefix}legacy:`;
    const publisher = new BusPublisher({ redis: client(shared.redisUrl, true), keyPrefix });
    publisher.publish([1, 2, 3, 4].map(alertMessage));
    const first = follow(shared.redisUrl, keyPrefix, '0-0');
    await until(() => first.received.length === 4, 10_000, 'the stream');
    const legacy = streamIdOf(first.received[1]!.position);
    expect(parsePosition(legacy).epoch).toBeNull();

    const resumed = follow(shared.redisUrl, keyPrefix, legacy);
    await until(() => resumed.received.length === 2, 10_000, 'the resume');
    expect(resumed.received.map((e) => e.position)).toEqual(
      first.received.slice(2).map((e) => e.position),
    );
    expect(resumed.gaps).toEqual([]);
    // From then on it knows the epoch.
    expect(resumed.subscriber.position).toBe(first.received[3]!.position);
    await Promise.all([first.subscriber.stop(), resumed.subscriber.stop()]);
  });
});
