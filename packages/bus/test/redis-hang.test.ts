// A Redis that hangs while staying connected (SIGSTOP): commands must fail within their
// timeout, the subscriber must report the hang, and SIGCONT must restore service.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { freePort, until } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEntry } from '../src/bus-message.js';
import { BusPublisher } from '../src/bus-publisher.js';
import { BusSubscriber } from '../src/bus-subscriber.js';
import { createRedisClient } from '../src/redis-client.js';
import { RedisReplyTimeoutError } from '../src/reply-deadline.js';
import { alertMessage } from './alert-message.js';

let server: ChildProcess;
let url: string;
const clients: Redis[] = [];
const client = (options: Parameters<typeof createRedisClient>[1] = {}) => {
  const c = createRedisClient(url, options);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  // A Redis of this file's own: the shared one must never be stopped.
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
    stdio: 'ignore',
  });
  const probe = client();
  await until(async () => (await probe.ping().catch(() => '')) === 'PONG', 10_000, 'redis-server');
});
afterAll(() => {
  for (const c of clients) c.disconnect();
  server.kill('SIGCONT');
  server.kill('SIGKILL');
});

const hang = () => server.kill('SIGSTOP');
const resume = () => server.kill('SIGCONT');

describe('a Redis that hangs', () => {
  it('rejects a command after REDIS_COMMAND_TIMEOUT_MS instead of waiting forever', async () => {
    const redis = client({ failFastWhileDisconnected: true, commandTimeoutMs: 300 });
    await until(() => redis.status === 'ready');
    const errors: Error[] = [];
    const publisher = new BusPublisher({
      redis,
      keyPrefix: `hang:${randomUUID()}:`,
      onError: (err) => errors.push(err),
    });
    hang();
    try {
      await expect(redis.set('hang-probe', '1')).rejects.toThrow(/Command timed out/);
      publisher.publish([alertMessage(1)]);
      await until(() => errors.some((e) => /timed out/.test(e.message)), 10_000, 'publish error');
    } finally {
      resume();
    }
    // Service is back: the backlog drains and plain commands answer.
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    await expect(redis.set('hang-probe', '2')).resolves.toBe('OK');
  });

  it('has the subscriber report a hung XREAD BLOCK, then carry on after SIGCONT', async () => {
    const keyPrefix = `hang:${randomUUID()}:`;
    const received: BusEntry[] = [];
    const errors: Error[] = [];
    const subscriber = new BusSubscriber({
      redis: client(),
      keyPrefix,
      from: '0-0',
      blockMs: 200,
      replyMarginMs: 300,
      onEntries: (entries) => received.push(...entries),
      onError: (err) => errors.push(err),
    });
    subscriber.start();
    await subscriber.caughtUp;
    hang();
    try {
      await until(
        () => errors.some((e) => e instanceof RedisReplyTimeoutError),
        10_000,
        'the subscriber to report the hang',
      );
    } finally {
      resume();
    }
    const publisher = new BusPublisher({
      redis: client({ failFastWhileDisconnected: true }),
      keyPrefix,
    });
    const sent = alertMessage(2);
    publisher.publish([sent]);
    await until(() => received.length === 1, 15_000, 'delivery after SIGCONT');
    expect(received[0]!.message).toEqual(sent);
    await subscriber.stop();
  });
});
