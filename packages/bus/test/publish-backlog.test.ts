// The publish backlog against a real Redis of this file's own, held with SIGSTOP so a chunk's
// append is in flight (sent, no reply) exactly while the backlog overflows: the race where the
// wrong messages were dropped and counted. Also the byte budgets: backlog and stream entries.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { freePort, until } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BusMessage,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamKey,
} from '../src/bus-message.js';
import { BusPublisher, type BusPublisherOptions } from '../src/bus-publisher.js';
import { createRedisClient } from '../src/redis-client.js';
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
  // Stopped and continued below: the shared Redis must never be.
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = client();
  await until(async () => (await probe.ping().catch(() => '')) === 'PONG', 10_000, 'redis-server');
});
afterAll(() => {
  for (const c of clients) c.disconnect();
  server.kill('SIGCONT');
  server.kill('SIGKILL');
});

/** Redis stops answering (the process is stopped); whatever was sent waits in its socket. */
const hang = () => server.kill('SIGSTOP');
const resume = () => server.kill('SIGCONT');

/** A message as the stream shows it: the alert's `n`, or `gap:<dropped>`. */
type Seen = number | `gap:${number}`;

/** A publisher on a stream of its own, with what it reported. */
async function startPublisher(
  options: Partial<BusPublisherOptions> = {},
  connection: { commandTimeoutMs?: number } = {},
) {
  const redis = client({ failFastWhileDisconnected: true, ...connection });
  await until(() => redis.status === 'ready', 10_000, 'publisher connection');
  const keyPrefix = `backlog:${randomUUID()}:`;
  const reported = { published: 0, dropped: [] as Array<[number, number]>, errors: [] as Error[] };
  const publisher = new BusPublisher({
    redis,
    keyPrefix,
    onPublished: (n) => {
      reported.published += n;
    },
    onDropped: (count, ahead) => reported.dropped.push([count, ahead]),
    onError: (err) => reported.errors.push(err),
    ...options,
  });
  /** The stream's messages, in order, each entry's size in messages and bytes beside. */
  const stream = async () => {
    const entries = await client().xrange(streamKey(keyPrefix), '-', '+');
    const bodies = entries.map(([, fields]) => fields[fields.indexOf(MESSAGE_FIELD) + 1] ?? '');
    const seen = bodies
      .flatMap((b) => b.split(MESSAGE_SEPARATOR))
      .map((raw): Seen => {
        const m = JSON.parse(raw) as BusMessage;
        if (m.type === 'gap') return `gap:${m.data.dropped}`;
        return (m.data as { event_detail: { n: number } }).event_detail.n;
      });
    return { seen, entryBytes: bodies.map((b) => Buffer.byteLength(b)) };
  };
  return { publisher, reported, stream, keyPrefix, redis };
}

const alerts = (from: number, to: number, detail = '') =>
  Array.from({ length: to - from + 1 }, (_, i) => {
    const m = alertMessage(from + i);
    if (detail && m.type === 'alert') m.data.event_detail = { n: from + i, detail };
    return m;
  });

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('publish backlog overflowing while a chunk is in flight', () => {
  it('drops the oldest messages behind the chunk, and counts exactly those', async () => {
    const { publisher, reported, stream } = await startPublisher({ maxBacklog: 6 });
    publisher.publish(alerts(0, 3));
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    hang();
    try {
      publisher.publish(alerts(4, 7)); // one chunk, sent, no reply while Redis is stopped
      publisher.publish(alerts(8, 13)); // 10 > 6: the 4 oldest NOT in flight (8–11) go
      expect(reported.dropped).toEqual([[4, 4]]);
      expect(publisher.backlog).toBe(6);
    } finally {
      resume();
    }
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    expect((await stream()).seen).toEqual([...range(0, 7), 'gap:4', 12, 13]);
    // Messages in the stream, the gap notice not among them: 14 handed in, 4 dropped.
    expect(reported.published).toBe(10);
    expect(publisher.backlog).toBe(0);
  });

  it('does not count a gap notice in the held chunk as a message to drop', async () => {
    const { publisher, stream } = await startPublisher({ maxBacklog: 6, maxChunk: 4 });
    hang();
    try {
      // 10 > 6 before anything is sent: 0–3 dropped, the chunk [gap:4, 4, 5, 6] goes out and is held.
      publisher.publish(alerts(0, 9));
      // 4–6 in flight + 7–12 waiting = 9 > 6: 7–9 are dropped, 10–12 stay.
      publisher.publish(alerts(10, 12));
    } finally {
      resume();
    }
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    expect((await stream()).seen).toEqual(['gap:4', 4, 5, 6, 'gap:3', 10, 11, 12]);
  });

  it('retries a failed chunk exactly as it was; what overflows meanwhile is dropped behind it and counted', async () => {
    let onFirstFailure: (() => void) | undefined;
    const { publisher, reported, stream, redis } = await startPublisher({
      maxBacklog: 4,
      // Run at the failure itself, while the failed chunk waits for its retry.
      onError: () => {
        onFirstFailure?.();
        onFirstFailure = undefined;
      },
    });
    // The failed chunk keeps its place (it may already be in Redis, its reply lost: the retry
    // must be the same chunk under the same receipt), so the newcomer is what overflows.
    onFirstFailure = () => publisher.publish(alerts(6, 6));
    redis.disconnect(); // appends fail at once (failFastWhileDisconnected)
    publisher.publish(alerts(0, 5)); // 0–1 dropped: [gap:2, 2, 3, 4, 5] is sent and fails
    await until(() => onFirstFailure === undefined, 10_000, 'the failed append');
    await redis.connect();
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    expect((await stream()).seen).toEqual(['gap:2', 2, 3, 4, 5, 'gap:1']);
    expect(reported.dropped).toEqual([
      [2, 0],
      [1, 4],
    ]);
    expect(reported.published).toBe(4);
  });

  it('appends a chunk once when its reply was lost and the retry runs too (the receipt answers)', async () => {
    const { publisher, reported, stream } = await startPublisher({}, { commandTimeoutMs: 300 });
    // Redis stopped: the first append times out on the client while it waits in Redis's socket;
    // the retry queues behind it. Resumed, Redis runs both: the second finds the receipt.
    hang();
    try {
      publisher.publish(alerts(0, 2));
      await until(() => reported.errors.length > 0, 15_000, 'the append to time out');
    } finally {
      resume();
    }
    await expect(publisher.drain(15_000)).resolves.toBe(true);
    expect((await stream()).seen).toEqual([0, 1, 2]);
    expect(reported.published).toBe(3);
  });
});

describe('byte budgets', () => {
  const detail = 'x'.repeat(60 * 1024);

  it('stops a backlog of big messages at BUS_MAX_BACKLOG_BYTES: the oldest waiting go, a gap says how many', async () => {
    const { publisher, reported, stream } = await startPublisher({
      maxBacklogBytes: 256 * 1024,
      maxEntryBytes: 128 * 1024,
    });
    hang();
    try {
      publisher.publish(alerts(0, 1, detail)); // ~120 KiB: one entry, held
      for (let n = 2; n < 20; n++) publisher.publish(alerts(n, n, detail));
      // 0–1 in flight and two more: four ~60 KiB messages fit in 256 KiB, the rest were dropped.
      expect(publisher.backlog).toBe(4);
      expect(publisher.backlogBytes).toBeLessThanOrEqual(256 * 1024);
      expect(reported.dropped.reduce((sum, [count]) => sum + count, 0)).toBe(16);
    } finally {
      resume();
    }
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    expect((await stream()).seen).toEqual([0, 1, 'gap:16', 18, 19]);
    expect(publisher.backlogBytes).toBe(0);
  });

  it('caps each stream entry at BUS_MAX_ENTRY_BYTES as well as at its message count', async () => {
    const { publisher, stream } = await startPublisher({ maxEntryBytes: 128 * 1024 });
    hang();
    try {
      publisher.publish(alerts(0, 0, detail)); // held, so the next ten queue up behind it
      publisher.publish(alerts(1, 10, detail));
    } finally {
      resume();
    }
    await expect(publisher.drain(10_000)).resolves.toBe(true);
    const { seen, entryBytes } = await stream();
    expect(seen).toEqual(range(0, 10));
    // Two ~60 KiB messages per entry at most, not all ten in one.
    expect(entryBytes).toHaveLength(6);
    for (const size of entryBytes) expect(size).toBeLessThanOrEqual(128 * 1024);
  });
});
