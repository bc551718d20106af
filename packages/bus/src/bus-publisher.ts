import type { Redis } from 'ioredis';
import {
  type BusMessage,
  type BusStream,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamCounterKey,
  streamKey,
} from './bus-message.js';

// Appends one chunk of messages as ONE stream entry, atomically. ARGV[3] is how many
// messages ARGV[4] holds (joined by the record separator, which valid JSON text never
// contains). Offsets are contiguous across every publisher (a shared counter): the entry
// holds messages first..last and its ID is "<ms>-<last>", with ms from the Redis clock but
// never going back; message i's position is "<ms>-<first+i>". One entry and one argument
// per chunk, not per message, is what keeps Redis's share of the work small.
const APPEND_SCRIPT = `
local stream, counter = KEYS[1], KEYS[2]
local maxlen, field, count, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last_ms = tonumber(redis.call('HGET', counter, 'ms') or '0')
if last_ms > ms then ms = last_ms end
local offset = tonumber(redis.call('HGET', counter, 'offset') or '0') + count
local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, ms .. '-' .. offset, 'n', count, field, body)
redis.call('HSET', counter, 'ms', ms, 'offset', offset)
return id
`;

type AppendCommand = (...args: Array<string | number>) => Promise<string>;

export interface BusPublisherOptions {
  /** A connection of its own, made with failFastWhileDisconnected. */
  redis: Redis;
  keyPrefix?: string;
  /** Which stream; `events` unless said otherwise. */
  stream?: BusStream;
  /** History kept in the stream, in entries of up to maxChunk messages (approximate, trimmed by Redis). */
  historyMaxLength?: number;
  /** Messages held in memory while Redis is unreachable; beyond it the oldest are dropped and a gap is published. */
  maxBacklog?: number;
  /** Messages per Redis round trip, and per stream entry. */
  maxChunk?: number;
  /** After each append Redis confirmed: how many, and those messages exactly as appended. */
  onPublished?: (count: number, messages: readonly string[]) => void;
  onError?: (err: Error) => void;
  onDropped?: (count: number) => void;
}

interface Gap {
  dropped: number;
  first: Date;
  last: Date;
}

/** What the services use to append to a stream: Redis (RedisBusPublisher) or memory (createMemoryBus). */
export interface BusPublisher {
  /** Messages accepted but not yet in the stream. */
  readonly backlog: number;
  publish(messages: readonly BusMessage[]): void;
  /** Messages already in their JSON form (see serializeAlertMessage). */
  publishSerialized(messages: readonly string[]): void;
  /** Resolves when the backlog is empty, or false after timeoutMs. */
  drain(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

/** Both publishers turn messages into JSON here, once; publishSerialized is theirs. */
export abstract class SerializingPublisher implements BusPublisher {
  abstract readonly backlog: number;
  abstract publishSerialized(messages: readonly string[]): void;
  abstract drain(timeoutMs?: number): Promise<boolean>;
  abstract close(): void;

  publish(messages: readonly BusMessage[]): void {
    this.publishSerialized(messages.map((m) => JSON.stringify(m)));
  }
}

/**
 * Appends messages to the event stream in the order given, from one serial
 * queue. While Redis is unreachable they wait in a bounded backlog and are
 * retried with backoff, so publishing resumes by itself; nothing blocks the
 * caller, who has already acknowledged the alerts to the agent.
 */
export class RedisBusPublisher extends SerializingPublisher {
  private readonly redis: Redis;
  private readonly keys: [string, string];
  private readonly historyMaxLength: number;
  private readonly maxBacklog: number;
  private readonly maxChunk: number;
  private readonly options: BusPublisherOptions;
  private queue: string[] = [];
  private running = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private gap: Gap | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(options: BusPublisherOptions) {
    super();
    this.options = options;
    this.redis = options.redis;
    // Sent once, then called by its SHA (EVALSHA) instead of shipping the script every time.
    this.redis.defineCommand('tripwireAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
    this.keys = [
      streamKey(options.keyPrefix, options.stream),
      streamCounterKey(options.keyPrefix, options.stream),
    ];
    this.historyMaxLength = options.historyMaxLength ?? 100_000;
    this.maxBacklog = options.maxBacklog ?? 100_000;
    this.maxChunk = options.maxChunk ?? 500;
  }

  /** Messages not yet in Redis. */
  get backlog(): number {
    return this.queue.length;
  }

  /** Messages already in their JSON form (see serializeAlertMessage). */
  publishSerialized(messages: readonly string[]): void {
    if (this.closed || messages.length === 0) return;
    for (const m of messages) this.queue.push(m);
    const excess = this.queue.length - this.maxBacklog;
    if (excess > 0) {
      this.queue.splice(0, excess);
      const now = new Date();
      this.gap = this.gap
        ? { ...this.gap, dropped: this.gap.dropped + excess, last: now }
        : { dropped: excess, first: now, last: now };
      this.options.onDropped?.(excess);
    }
    this.kick();
  }

  /** Resolves when the backlog is empty, or false after timeoutMs. */
  async drain(timeoutMs = 5_000): Promise<boolean> {
    if (this.queue.length === 0 && !this.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((r) => this.idleWaiters.push(() => r(true))),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return done;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private kick(): void {
    if (!this.running && !this.retryTimer) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.gap) {
          const g = this.gap;
          this.queue.unshift(
            JSON.stringify({
              type: 'gap',
              data: {
                dropped: g.dropped,
                first_dropped_at: g.first.toISOString(),
                last_dropped_at: g.last.toISOString(),
                reason: 'Redis was unreachable for longer than the publish backlog lasts',
              },
            } satisfies BusMessage),
          );
          this.gap = undefined;
        }
        const chunk = this.queue.slice(0, this.maxChunk);
        // One script call: the chunk is appended entirely or not at all, so a retry never duplicates part of it.
        await (this.redis as Redis & { tripwireAppend: AppendCommand }).tripwireAppend(
          ...this.keys,
          this.historyMaxLength,
          MESSAGE_FIELD,
          chunk.length,
          chunk.join(MESSAGE_SEPARATOR),
        );
        this.queue.splice(0, chunk.length);
        this.failures = 0;
        this.options.onPublished?.(chunk.length, chunk);
      }
    } catch (err) {
      this.failures++;
      this.options.onError?.(err as Error);
      const delay = Math.min(50 * 2 ** Math.min(this.failures, 6), 2_000);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.kick();
      }, delay);
    } finally {
      this.running = false;
    }
    if (this.queue.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** `new BusPublisher(options)` is the Redis publisher, as before the interface existed. */
export const BusPublisher = RedisBusPublisher;
