import type { Redis } from 'ioredis';
import {
  type BusEntry,
  type BusStream,
  decodeBusEntry,
  EPOCH_FIELD,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamCounterKey,
  streamKey,
} from './bus-message.js';
import { RedisReplyTimeoutError, whenReady, withDeadline } from './reply-deadline.js';
import {
  type SkippedEntry,
  StreamCursor,
  type StreamGap,
  streamIdOfEntry,
} from './stream-cursor.js';
import { comparePositions, formatPosition, parsePosition } from './stream-position.js';

export type { StreamGap, StreamGapReason } from './stream-cursor.js';

/** How long stop() waits for a read in flight to end. */
const STOP_WAIT_MS = 1_000;
/** A read unanswered for its block time plus this is taken as a hung connection. */
const DEFAULT_REPLY_MARGIN_MS = 5_000;

export interface BusSubscriberOptions {
  /** A connection of its own: XREAD BLOCK occupies it. The subscriber disconnects it on stop(). */
  redis: Redis;
  keyPrefix?: string;
  /** Which stream; `events` unless said otherwise. */
  stream?: BusStream;
  /** Read everything after this position, or only what arrives from now on ('latest'). */
  from: string | 'latest';
  onEntries: (entries: BusEntry[]) => void;
  /**
   * The bus no longer holds some entries after our position (trimmed), or the stream was reset
   * (a new epoch): reload them elsewhere (PostgreSQL). Called before the entries that follow.
   */
  onGap?: (gap: StreamGap) => void;
  onError?: (err: Error) => void;
  onMalformed?: (position: string, err: Error) => void;
  blockMs?: number;
  /**
   * A read not answered within blockMs + this (and a connection not ready
   * within it) counts as a hung Redis: the connection is dropped and
   * reconnected, and onError is told, so readiness fails instead of silence.
   */
  replyMarginMs?: number;
  /** Stream entries per read (each holds up to the publisher's maxChunk messages). */
  count?: number;
  /**
   * Start reading at an arbitrary point (e.g. "<ms>-0" to warm up from a
   * time) without reporting the entries before it as a gap.
   */
  warmStart?: boolean;
}

type RawEntry = [id: string, fields: string[]];

/** What the services use to follow a stream: Redis (RedisBusSubscriber) or memory (createMemoryBus). */
export interface BusSubscriber {
  /** The last position delivered. */
  readonly position: string;
  /** When the stream last answered (Date.now()): proof the subscription works, even when idle. */
  readonly lastReadAt: number;
  /** Resolves once everything that was in the stream at start has been delivered. */
  readonly caughtUp: Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Follows the event stream from a position with XREAD BLOCK. After a dropped
 * connection it carries on from the last position it delivered, so nothing
 * published meanwhile is missed. Offsets are contiguous within an epoch, so when
 * history no longer reaches back to our position (trimmed) the subscriber reports
 * the gap instead of silently skipping it; and a new epoch (Redis lost its data,
 * or failed over to a replica) is reported as a reset, whether it shows in the
 * entries or in the counter (checked at start, after every failure and whenever
 * a blocking read comes back empty).
 */
export class RedisBusSubscriber implements BusSubscriber {
  private readonly key: string;
  private readonly counterKey: string;
  private readonly options: BusSubscriberOptions;
  private readonly cursor: StreamCursor;
  private stopped = false;
  /** When XREAD last answered: proof the subscription works, even when idle. */
  lastReadAt = 0;
  /** Resolves once the subscriber has read everything that was in the stream (a short or empty read). */
  readonly caughtUp: Promise<void>;
  private markCaughtUp!: () => void;
  private isCaughtUp = false;
  private loop: Promise<void> | undefined;
  /** After a failure the next read does not block: a stale XREAD BLOCK resent on reconnect may precede it. */
  private recovering = false;
  /** Whether the next read first compares the counter's epoch with ours. */
  private checkEpoch = true;

  constructor(options: BusSubscriberOptions) {
    this.options = options;
    this.cursor = new StreamCursor(options.from, options.warmStart);
    this.key = streamKey(options.keyPrefix, options.stream);
    this.counterKey = streamCounterKey(options.keyPrefix, options.stream);
    this.caughtUp = new Promise((resolve) => {
      this.markCaughtUp = resolve;
    });
  }

  /** The last position delivered. */
  get position(): string {
    return this.cursor.position;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.options.redis.disconnect();
    // While Redis is unreachable, ioredis holds the pending XREAD in its offline queue, and
    // disconnect() between reconnect attempts never settles it: do not wait for it forever.
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const raw = await this.read();
        failures = 0;
        this.recovering = false;
        this.lastReadAt = Date.now();
        if (raw.length < (this.options.count ?? 100) && !this.isCaughtUp) {
          this.isCaughtUp = true;
          this.markCaughtUp();
        }
        // Idle: a failover to a replica whose IDs sort below our cursor would look just like this.
        if (raw.length === 0) this.checkEpoch = true;
        else this.deliver(raw);
      } catch (err) {
        if (this.stopped) break;
        this.recovering = true;
        this.checkEpoch = true;
        // Hung, not closed: ioredis would wait forever. Drop the connection; ioredis reconnects.
        if (err instanceof RedisReplyTimeoutError) this.options.redis.disconnect(true);
        this.options.onError?.(err as Error);
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures++, 2_000)));
      }
    }
  }

  /** The next raw entries after the cursor, each command under the hung-connection deadline. */
  private async read(): Promise<RawEntry[]> {
    const { redis, blockMs = 5_000, count = 100 } = this.options;
    const limit = blockMs + (this.options.replyMarginMs ?? DEFAULT_REPLY_MARGIN_MS);
    await whenReady(redis, limit);
    if (this.cursor.id === '') {
      const [id, epoch] = await withDeadline(lastEntry(redis, this.key), 'XREVRANGE', limit);
      this.cursor.place(id, epoch);
    }
    if (this.checkEpoch) await this.checkCounter(limit);
    // Until caught up, read without blocking: an empty or short answer then means "nothing more yet"
    // at once, instead of after a whole block period.
    const block = this.isCaughtUp && !this.recovering;
    const from = this.cursor.id;
    const reply = (await withDeadline(
      block
        ? redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, from)
        : redis.xread('COUNT', count, 'STREAMS', this.key, from),
      'XREAD',
      limit,
    )) as Array<[string, RawEntry[]]> | null;
    const raw = reply?.[0]?.[1] ?? [];
    // A new epoch whose first IDs sorted below our cursor and whose later ones did not: the
    // counter says where it starts, and the read begins again from there.
    const known = this.cursor.epoch;
    if (known !== null && raw.some(([, f]) => (fieldValue(f, EPOCH_FIELD) ?? known) !== known)) {
      await this.checkCounter(limit);
      if (this.cursor.id !== from) return [];
    }
    return raw;
  }

  /** Compares the counter's epoch with ours; a new one moves the cursor to where it starts. */
  private async checkCounter(limit: number): Promise<void> {
    const reply = this.options.redis.hmget(this.counterKey, 'epoch', 'after');
    const [epoch, after] = await withDeadline(reply, 'HMGET', limit);
    if (epoch) this.cursor.noticeEpoch(epoch, after ?? '0-0');
    this.checkEpoch = false;
  }

  private deliver(raw: RawEntry[]): void {
    // Resuming inside an entry returns that entry: drop the messages we already had.
    const from = this.cursor.id;
    const entries = this.decode(raw).filter((e) => comparePositions(streamIdOfEntry(e), from) > 0);
    this.cursor.advance(entries, this.options.onEntries, this.options.onGap);
  }

  /**
   * One BusEntry per message (a marker for one that does not parse); an entry "<ms>-<last>"
   * with n messages holds offsets last-n+1..last.
   */
  private decode(raw: RawEntry[]): Array<BusEntry | SkippedEntry> {
    const entries: Array<BusEntry | SkippedEntry> = [];
    for (const [id, fields] of raw) {
      const { ms, offset: last } = parsePosition(id);
      const epoch = fieldValue(fields, EPOCH_FIELD);
      const body = fieldValue(fields, MESSAGE_FIELD);
      const messages = body === null ? [] : body.split(MESSAGE_SEPARATOR);
      messages.forEach((json, i) => {
        const position = formatPosition(epoch, `${ms}-${last - BigInt(messages.length - 1 - i)}`);
        try {
          entries.push(decodeBusEntry(position, epoch, json));
        } catch (err) {
          this.options.onMalformed?.(position, err as Error);
          entries.push({ position, epoch, skipped: true });
        }
      });
    }
    return entries;
  }
}

/** A field of a stream entry ([name, value, name, value, ...]), or null. */
function fieldValue(fields: string[], name: string): string | null {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1] ?? null;
  return null;
}

/** The newest entry's ID and epoch, or "0-0" for an empty stream. */
async function lastEntry(redis: Redis, key: string): Promise<[string, string | null]> {
  const [newest] = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
  return newest ? [newest[0], fieldValue(newest[1], EPOCH_FIELD)] : ['0-0', null];
}

/** `new BusSubscriber(options)` is the Redis subscriber, as before the interface existed. */
export const BusSubscriber = RedisBusSubscriber;
