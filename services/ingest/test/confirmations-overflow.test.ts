// Acks wait until an alert's message is in Redis (PublishConfirmations). When the publish
// backlog overflows while a chunk's append is in flight (Redis stopped with SIGSTOP: sent, no
// reply), an alert in that chunk must still wait for the reply, and one whose message was
// dropped must not wait at all. A Redis of this file's own: the shared one is never stopped.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { BusPublisher, createRedisClient, streamKey } from '@tripwire/bus';
import { freePort, until } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishConfirmations } from '../src/publish-confirmations.js';

let server: ChildProcess;
let redis: Redis;

beforeAll(async () => {
  const port = await freePort();
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  redis = createRedisClient(`redis://127.0.0.1:${port}`, { failFastWhileDisconnected: true });
  await until(async () => (await redis.ping().catch(() => '')) === 'PONG', 10_000, 'redis-server');
});
afterAll(() => {
  redis?.disconnect();
  server.kill('SIGCONT');
  server.kill('SIGKILL');
});

const messages = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => JSON.stringify({ type: 'rules', n: from + i }));

/** Whether a promise has settled once everything already queued has run. */
const settled = async (p: Promise<void>) => {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('publish confirmations while the backlog overflows', () => {
  it('hold an alert whose chunk is in flight until Redis answers, and release a dropped one', async () => {
    const confirmations = new PublishConfirmations(60_000);
    const keyPrefix = `confirm:${randomUUID()}:`;
    const publisher = new BusPublisher({
      redis,
      keyPrefix,
      maxBacklog: 6,
      onPublished: (n) => confirmations.published(n),
      onDropped: (n, ahead) => confirmations.dropped(n, ahead),
      onError: () => confirmations.failed(),
    });
    // What AlertIntake does: publish, then wait for the message now last in the queue.
    const publishAndWait = (from: number, to: number) => {
      publisher.publishSerialized(messages(from, to));
      return confirmations.whenPublished(publisher.backlog);
    };
    await publishAndWait(0, 3);
    server.kill('SIGSTOP');
    let inFlight: Promise<void>;
    let dropped: Promise<void>;
    try {
      inFlight = publishAndWait(4, 7); // one chunk, sent, held
      dropped = publishAndWait(8, 9); // waiting behind it
      void publishAndWait(10, 13); // 10 > 6: 8–11 are dropped, 4–7 stay in flight
      // Not acknowledged before it is in Redis; nothing to wait for once dropped (a gap stands in).
      expect(await settled(inFlight)).toBe(false);
      expect(await settled(dropped)).toBe(true);
    } finally {
      server.kill('SIGCONT');
    }
    await inFlight;
    const entries = await redis.xrange(streamKey(keyPrefix), '-', '+');
    expect(entries.map(([, fields]) => fields.join(' ')).join(' ')).toContain('"n":7');
    await expect(publisher.drain(10_000)).resolves.toBe(true);
  });
});
