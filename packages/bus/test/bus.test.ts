import { provisionRedis, proxyFor, type TestRedis, within } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEntry } from '../src/bus-message.js';
import { BusPublisher } from '../src/bus-publisher.js';
import { BusSubscriber, type StreamGap } from '../src/bus-subscriber.js';
import { createRedisClient } from '../src/redis-client.js';
import { comparePositions, parsePosition } from '../src/stream-position.js';
import { alertMessage } from './alert-message.js';

let redis: TestRedis;
const clients: Redis[] = [];
const client = (url = redis.redisUrl, failFast = false) => {
  const c = createRedisClient(url, { failFastWhileDisconnected: failFast });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  redis = await provisionRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis.cleanup();
});

async function until(predicate: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(options: { prefix: string; from: string | 'latest'; url?: string }) {
  const received: BusEntry[] = [];
  const gaps: StreamGap[] = [];
  const redis = client(options.url);
  const subscriber = new BusSubscriber({
    redis,
    keyPrefix: options.prefix,
    from: options.from,
    blockMs: 200,
    onEntries: (e) => received.push(...e),
    onGap: (g) => gaps.push(g),
  });
  subscriber.start();
  return { received, gaps, redis, subscriber };
}

describe('bus', () => {
  it('delivers published messages in order with increasing positions', async () => {
    const prefix = `${redis.keyPrefix}order:`;
    const sub = collect({ prefix, from: '0-0' });
    const publisher = new BusPublisher({ redis: client(undefined, true), keyPrefix: prefix });
    const sent = Array.from({ length: 50 }, (_, i) => alertMessage(i));
    publisher.publish(sent.slice(0, 20));
    publisher.publish(sent.slice(20));
    await until(() => sub.received.length === 50);
    expect(sub.received.map((e) => e.message)).toEqual(sent);
    for (let i = 1; i < 50; i++) {
      expect(comparePositions(sub.received[i]!.position, sub.received[i - 1]!.position)).toBe(1);
    }
    await sub.subscriber.stop();
  });

  it('resumes after a position with exactly what followed it', async () => {
    const prefix = `${redis.keyPrefix}resume:`;
    const publisher = new BusPublisher({ redis: client(undefined, true), keyPrefix: prefix });
    const first = collect({ prefix, from: '0-0' });
    publisher.publish(Array.from({ length: 10 }, (_, i) => alertMessage(i)));
    await until(() => first.received.length === 10);
    await first.subscriber.stop();
    const lastSeen = first.received[4]!.position;

    const resumed = collect({ prefix, from: lastSeen });
    await until(() => resumed.received.length === 5);
    expect(resumed.received.map((e) => e.position)).toEqual(
      first.received.slice(5).map((e) => e.position),
    );
    expect(resumed.gaps).toEqual([]);
    await resumed.subscriber.stop();
  });

  it('reports a gap when history was trimmed past the resume position', async () => {
    const prefix = `${redis.keyPrefix}trim:`;
    const publisher = new BusPublisher({
      redis: client(undefined, true),
      keyPrefix: prefix,
      historyMaxLength: 10,
      maxChunk: 1,
    });
    const early = collect({ prefix, from: '0-0' });
    publisher.publish([alertMessage(0)]);
    await until(() => early.received.length === 1);
    await early.subscriber.stop();
    // MAXLEN ~ trims whole radix-tree nodes; exact trimming keeps the test deterministic.
    publisher.publish(Array.from({ length: 200 }, (_, i) => alertMessage(i)));
    await publisher.drain();
    await client().xtrim(`${prefix}{tripwire:v1}:events`, 'MAXLEN', 10);

    const late = collect({ prefix, from: early.received[0]!.position });
    await until(() => late.gaps.length === 1 && late.received.length === 10);
    expect(late.gaps[0]).toEqual({
      after: early.received[0]!.position,
      resumedAt: late.received[0]!.position,
      reason: 'trimmed',
    });
    await late.subscriber.stop();
  });

  it('keeps publishing through a Redis outage: backlog, then everything in order', async () => {
    const prefix = `${redis.keyPrefix}outage:`;
    const proxy = await proxyFor(redis.redisUrl);
    const errors: Error[] = [];
    const publisher = new BusPublisher({
      redis: client(proxy.url(redis.redisUrl), true),
      keyPrefix: prefix,
      onError: (e) => errors.push(e),
    });
    const sub = collect({ prefix, from: '0-0' });
    publisher.publish([alertMessage(0)]);
    await until(() => sub.received.length === 1);
    // The reply must be in too, or the cut below makes the publisher retry it.
    expect(await publisher.drain()).toBe(true);

    proxy.cut();
    const during = Array.from({ length: 30 }, (_, i) => alertMessage(100 + i));
    for (const m of during) publisher.publish([m]);
    // The publisher has met the outage (a failed attempt) and still holds all 30.
    await until(() => errors.length > 0);
    expect(publisher.backlog).toBe(30);
    expect(sub.received).toHaveLength(1);

    proxy.restore();
    await until(() => sub.received.length === 31, 10_000);
    expect(sub.received.slice(1).map((e) => e.message)).toEqual(during);
    expect(await publisher.drain()).toBe(true);
    expect(publisher.backlog).toBe(0);
    await sub.subscriber.stop();
    await proxy.close();
  });

  it('drops the oldest beyond the backlog limit and publishes a gap record first', async () => {
    const prefix = `${redis.keyPrefix}overflow:`;
    const proxy = await proxyFor(redis.redisUrl);
    const dropped: number[] = [];
    const publisher = new BusPublisher({
      redis: client(proxy.url(redis.redisUrl), true),
      keyPrefix: prefix,
      maxBacklog: 5,
      onDropped: (n) => dropped.push(n),
    });
    proxy.cut();
    const msgs = Array.from({ length: 8 }, (_, i) => alertMessage(i));
    publisher.publish(msgs);
    expect(dropped).toEqual([3]);
    const sub = collect({ prefix, from: '0-0' });
    proxy.restore();
    await until(() => sub.received.length === 6, 10_000);
    expect(sub.received[0]!.message).toMatchObject({ type: 'gap', data: { dropped: 3 } });
    expect(sub.received.slice(1).map((e) => e.message)).toEqual(msgs.slice(3));
    await sub.subscriber.stop();
    await proxy.close();
  });

  it('a subscriber whose connection drops catches up on what it missed', async () => {
    const prefix = `${redis.keyPrefix}subdrop:`;
    const proxy = await proxyFor(redis.redisUrl);
    const publisher = new BusPublisher({ redis: client(undefined, true), keyPrefix: prefix });
    const sub = collect({ prefix, from: 'latest', url: proxy.url(redis.redisUrl) });
    // "latest" is resolved on the first read: what is published after it is delivered.
    await sub.subscriber.caughtUp;
    publisher.publish([alertMessage(0)]);
    await until(() => sub.received.length === 1);
    proxy.cut();
    const missed = Array.from({ length: 5 }, (_, i) => alertMessage(10 + i));
    publisher.publish(missed);
    await publisher.drain();
    // The subscriber's connection is down while the five are published.
    await until(() => sub.redis.status !== 'ready');
    proxy.restore();
    await until(() => sub.received.length === 6, 10_000);
    expect(sub.received.slice(1).map((e) => e.message)).toEqual(missed);
    expect(sub.gaps).toEqual([]);
    await sub.subscriber.stop();
    await proxy.close();
  });

  it('stops promptly while Redis is unreachable', async () => {
    const unreachable = createRedisClient('redis://127.0.0.1:1');
    const subscriber = new BusSubscriber({
      redis: unreachable,
      from: 'latest',
      onEntries: () => {},
    });
    subscriber.start();
    // Between reconnect attempts: the state in which stop() used to wait forever.
    await until(() => unreachable.status === 'reconnecting');
    // A bound far above the expected second (STOP_WAIT_MS): failing it means a hang.
    await within(subscriber.stop(), 15_000, 'stop() while Redis is unreachable');
  });

  it('refuses a malformed resume position', () => {
    expect(
      () => new BusSubscriber({ redis: client(), from: 'yesterday', onEntries: () => {} }),
    ).toThrow(/not a stream position/);
  });

  it('reports a reset when Redis lost its data: a new epoch, never a silent restart of offsets', async () => {
    const prefix = `${redis.keyPrefix}reset:`;
    const publisher = new BusPublisher({ redis: client(undefined, true), keyPrefix: prefix });
    const sub = collect({ prefix, from: '0-0' });
    publisher.publish([alertMessage(0), alertMessage(1)]);
    await until(() => sub.received.length === 2);
    await client().del(`${prefix}{tripwire:v1}:events`, `${prefix}{tripwire:v1}:events:counter`);
    publisher.publish([alertMessage(2)]);
    await until(() => sub.gaps.length === 1 && sub.received.length === 3);
    expect(sub.gaps[0]).toEqual({
      after: sub.received[1]!.position,
      resumedAt: sub.received[2]!.position,
      reason: 'reset',
    });
    const [before, after] = [
      parsePosition(sub.received[1]!.position),
      parsePosition(sub.received[2]!.position),
    ];
    expect(after.epoch).not.toBe(before.epoch);
    // The counter restarted: without the epoch, offset 1 would be taken for an old position.
    expect(after.offset).toBe(1n);
    await sub.subscriber.stop();
  });
});
