import { until } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import type { BusSubscriberSettings } from '../src/bus.js';
import type { BusEntry } from '../src/bus-message.js';
import type { StreamGap } from '../src/bus-subscriber.js';
import { createMemoryBus } from '../src/memory-bus.js';
import { followsDirectly, parsePosition } from '../src/stream-position.js';
import { alertMessage } from './alert-message.js';

function collect(
  bus: ReturnType<typeof createMemoryBus>,
  settings: Partial<BusSubscriberSettings> & { from: string },
) {
  const received: BusEntry[] = [];
  const gaps: StreamGap[] = [];
  const calls: number[] = [];
  const subscriber = bus.subscriber({
    onEntries: (e) => {
      calls.push(e.length);
      received.push(...e);
    },
    onGap: (g) => gaps.push(g),
    ...settings,
  });
  subscriber.start();
  return { received, gaps, calls, subscriber };
}

/** Waits for the clock to pass `t` (positions and `since` are in milliseconds). */
const clockPast = (t = Date.now()) => until(() => Date.now() > t);

const detailN = (e: BusEntry) =>
  (e.message as { data: { event_detail: { n: number } } }).data.event_detail.n;

describe('memory bus', () => {
  it('tells the publisher where each message went, as the subscriber numbers them', async () => {
    const bus = createMemoryBus();
    const sub = collect(bus, { from: '0-0' });
    const told: string[] = [];
    const publisher = bus.publisher({
      onPublished: (_n, messages, at) =>
        messages.forEach((_m, i) => {
          told.push(`${at.epoch}:${at.ms}-${at.firstOffset + BigInt(i)}`);
        }),
    });
    publisher.publish([alertMessage(0), alertMessage(1)]);
    publisher.publish([alertMessage(2)]);
    await until(() => sub.received.length === 3);
    expect(told).toEqual(sub.received.map((e) => e.position));
  });

  it('delivers in order with contiguous "<epoch>:<ms>-<offset>" positions across publishers', async () => {
    const bus = createMemoryBus();
    const sub = collect(bus, { from: '0-0' });
    const a = bus.publisher({});
    const b = bus.publisher({});
    for (let i = 0; i < 2_500; i++) (i % 2 ? a : b).publish([alertMessage(i)]);
    await until(() => sub.received.length === 2_500);
    expect(sub.received.map(detailN)).toEqual([...Array(2_500).keys()]);
    for (let i = 1; i < sub.received.length; i++) {
      expect(followsDirectly(sub.received[i - 1]!.position, sub.received[i]!.position)).toBe(true);
      expect(parsePosition(sub.received[i]!.position).ms).toBeGreaterThanOrEqual(
        parsePosition(sub.received[i - 1]!.position).ms,
      );
    }
    // Delivered in bounded chunks, never inside publish().
    expect(Math.max(...sub.calls)).toBeLessThanOrEqual(1_000);
    expect(sub.gaps).toEqual([]);
    expect(sub.subscriber.position).toBe(sub.received.at(-1)!.position);
    await sub.subscriber.stop();
  });

  it('keeps the raw JSON as published (serialize once)', async () => {
    const bus = createMemoryBus();
    const sub = collect(bus, { from: '0-0' });
    const raw = JSON.stringify(alertMessage(7));
    bus.publisher({}).publishSerialized([raw]);
    await until(() => sub.received.length === 1);
    expect(sub.received[0]!.raw).toBe(raw);
    await sub.subscriber.stop();
  });

  it('resumes after a position without a gap, and "latest" sees only new messages', async () => {
    const bus = createMemoryBus();
    const publisher = bus.publisher({});
    publisher.publish([1, 2, 3, 4, 5].map(alertMessage));
    const first = collect(bus, { from: '0-0' });
    await first.subscriber.caughtUp;
    expect(first.received).toHaveLength(5);
    const resumed = collect(bus, { from: first.received[1]!.position });
    const latest = collect(bus, { from: 'latest' });
    await Promise.all([resumed.subscriber.caughtUp, latest.subscriber.caughtUp]);
    publisher.publish([alertMessage(6)]);
    await until(() => resumed.received.length === 4 && latest.received.length === 1);
    expect(resumed.received.map(detailN)).toEqual([3, 4, 5, 6]);
    expect(latest.received.map(detailN)).toEqual([6]);
    expect(resumed.gaps).toEqual([]);
    expect(latest.gaps).toEqual([]);
    for (const s of [first, resumed, latest]) await s.subscriber.stop();
  });

  it('reports a gap when history was trimmed past the resume position', async () => {
    const bus = createMemoryBus({ historyMaxLength: 10 });
    const publisher = bus.publisher({});
    publisher.publish([alertMessage(0)]);
    const early = collect(bus, { from: '0-0' });
    await until(() => early.received.length === 1);
    await early.subscriber.stop();
    publisher.publish([...Array(20).keys()].map((i) => alertMessage(i + 1)));
    const late = collect(bus, { from: early.received[0]!.position });
    await until(() => late.gaps.length === 1 && late.received.length === 10);
    expect(late.gaps[0]).toEqual({
      after: early.received[0]!.position,
      resumedAt: late.received[0]!.position,
      reason: 'trimmed',
    });
    expect(late.received.map(detailN)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    await late.subscriber.stop();
  });

  it('warm-starts from a time without reporting a gap', async () => {
    const bus = createMemoryBus();
    const publisher = bus.publisher({});
    publisher.publish([alertMessage(1)]);
    await clockPast();
    const since = Date.now();
    await clockPast(since);
    publisher.publish([alertMessage(2), alertMessage(3)]);
    const warm = collect(bus, { from: `${since}-0`, warmStart: true });
    const cold = collect(bus, { from: `${since}-0` });
    await until(() => warm.received.length === 2 && cold.received.length === 2);
    expect(warm.received.map(detailN)).toEqual([2, 3]);
    expect(warm.gaps).toEqual([]);
    expect(cold.gaps).toHaveLength(1);
    await warm.subscriber.stop();
    await cold.subscriber.stop();
  });

  it('a new bus (a restarted process) is a new epoch: a position from the old one is a reset', async () => {
    const old = createMemoryBus();
    const oldSub = collect(old, { from: '0-0' });
    old.publisher({}).publish([1, 2, 3].map(alertMessage));
    await until(() => oldSub.received.length === 3);
    const fresh = createMemoryBus();
    // A position from the earlier process reads the new stream from its start, and says so.
    const since = oldSub.received[2]!.position;
    const sub = collect(fresh, { from: since });
    fresh.publisher({}).publish([alertMessage(4)]);
    await until(() => sub.received.length === 1);
    expect(sub.gaps).toEqual([
      { after: since, resumedAt: sub.received[0]!.position, reason: 'reset' },
    ]);
    expect(parsePosition(sub.received[0]!.position).epoch).not.toBe(parsePosition(since).epoch);
    expect(sub.received.map(detailN)).toEqual([4]);
    for (const s of [oldSub, sub]) await s.subscriber.stop();
  });

  it('keeps streams and key prefixes apart', async () => {
    const bus = createMemoryBus();
    const events = collect(bus, { from: '0-0' });
    const control = collect(bus, { from: '0-0', stream: 'control' });
    const other = collect(bus, { from: '0-0', keyPrefix: 'other:' });
    bus
      .publisher({ stream: 'control' })
      .publish([{ type: 'rules', data: { host_id: null, rule_id: 'r1', change: 'created' } }]);
    bus.publisher({}).publish([alertMessage(1)]);
    await until(() => events.received.length === 1 && control.received.length === 1);
    expect(events.received[0]!.message.type).toBe('alert');
    expect(control.received[0]!.message.type).toBe('rules');
    expect(parsePosition(control.received[0]!.position).offset).toBeGreaterThan(0n);
    expect(other.received).toEqual([]);
    for (const s of [events, control, other]) await s.subscriber.stop();
  });

  it('skips malformed messages, stops delivering after stop(), and refuses bad positions', async () => {
    const bus = createMemoryBus();
    const malformed: string[] = [];
    const sub = collect(bus, { from: '0-0', onMalformed: (p) => malformed.push(p) });
    const publisher = bus.publisher({});
    publisher.publishSerialized(['{not json', JSON.stringify(alertMessage(1))]);
    await until(() => sub.received.length === 1);
    expect(malformed).toHaveLength(1);
    expect(sub.subscriber.lastReadAt).toBeGreaterThan(0);
    await sub.subscriber.stop();
    // A witness subscribed before the publish: once it has the message, a stopped subscriber
    // still delivering would have had it too.
    const witness = collect(bus, { from: sub.subscriber.position });
    publisher.publish([alertMessage(2)]);
    await until(() => witness.received.length === 1);
    expect(sub.received).toHaveLength(1);
    await witness.subscriber.stop();
    expect(await publisher.drain()).toBe(true);
    expect(publisher.backlog).toBe(0);
    expect(() => bus.subscriber({ from: 'yesterday', onEntries: () => {} })).toThrow(
      /not a stream position/,
    );
  });
});
