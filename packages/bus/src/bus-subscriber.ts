import type { Redis } from 'ioredis';
import {
  type BusEntry,
  type BusMessage,
  type BusStream,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamKey,
} from './bus-message.js';
import { RedisReplyTimeoutError, whenReady, withDeadline } from './reply-deadline.js';
import { comparePositions, followsDirectly, isPosition, parsePosition } from './stream-position.js';

export interface StreamGap {
  /** The last position this subscriber had seen. */
  after: string;
  /** The first position still available; the entries in between are gone from Redis. */
  resumedAt: string;
}

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
  /** History no longer holds some entries after our position: reload them elsewhere (PostgreSQL). */
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
 * published meanwhile is missed. Offsets are contiguous, so when history no
 * longer reaches back to our position (trimmed, or Redis lost its data) the
 * subscriber reports the gap instead of silently skipping it.
 */
export class RedisBusSubscriber implements BusSubscriber {
  private readonly key: string;
  private readonly options: BusSubscriberOptions;
  /** Empty until a 'latest' subscriber learns where the stream ends. */
  private cursor: string;
  private stopped = false;
  private warmedUp = false;
  /** When XREAD last answered: proof the subscription works, even when idle. */
  lastReadAt = 0;
  /** Resolves once the subscriber has read everything that was in the stream (a short or empty read). */
  readonly caughtUp: Promise<void>;
  private markCaughtUp!: () => void;
  private isCaughtUp = false;
  private loop: Promise<void> | undefined;
  /** After a failure the next read does not block: a stale XREAD BLOCK resent on reconnect may precede it. */
  private recovering = false;

  constructor(options: BusSubscriberOptions) {
    if (options.from !== 'latest' && !isPosition(options.from)) {
      throw new Error(`"${options.from}" is not a stream position (expected "<ms>-<seq>")`);
    }
    this.options = options;
    this.key = streamKey(options.keyPrefix, options.stream);
    this.cursor = options.from === 'latest' ? '' : options.from;
    this.caughtUp = new Promise((resolve) => {
      this.markCaughtUp = resolve;
    });
  }

  /** The last position delivered. */
  get position(): string {
    return this.cursor;
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
        if (raw.length > 0) this.deliver(raw);
      } catch (err) {
        if (this.stopped) break;
        this.recovering = true;
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
    if (this.cursor === '') {
      this.cursor = await withDeadline(lastPosition(redis, this.key), 'XREVRANGE', limit);
    }
    // Until caught up, read without blocking: an empty or short answer then means "nothing more yet"
    // at once, instead of after a whole block period.
    const block = this.isCaughtUp && !this.recovering;
    const reply = (await withDeadline(
      block
        ? redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, this.cursor)
        : redis.xread('COUNT', count, 'STREAMS', this.key, this.cursor),
      'XREAD',
      limit,
    )) as Array<[string, RawEntry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  private deliver(raw: RawEntry[]): void {
    // Resuming inside an entry returns that entry: drop the messages we already had.
    const entries = this.decode(raw).filter((e) => comparePositions(e.position, this.cursor) > 0);
    const first = entries[0];
    if (!first) return;
    if (this.options.warmStart && !this.warmedUp) {
      this.warmedUp = true;
    } else if (!followsDirectly(this.cursor, first.position)) {
      this.options.onGap?.({ after: this.cursor, resumedAt: first.position });
    }
    this.cursor = entries[entries.length - 1]!.position;
    this.options.onEntries(entries);
  }

  /** One BusEntry per message; an entry "<ms>-<last>" with n messages holds offsets last-n+1..last. */
  private decode(raw: RawEntry[]): BusEntry[] {
    const entries: BusEntry[] = [];
    for (const [id, fields] of raw) {
      const { ms, offset: last } = parsePosition(id);
      const at = fields.indexOf(MESSAGE_FIELD);
      const messages = at >= 0 ? (fields[at + 1] ?? '').split(MESSAGE_SEPARATOR) : [];
      messages.forEach((json, i) => {
        const position = `${ms}-${last - BigInt(messages.length - 1 - i)}`;
        try {
          entries.push({ position, message: JSON.parse(json) as BusMessage, raw: json });
        } catch (err) {
          this.options.onMalformed?.(position, err as Error);
        }
      });
    }
    return entries;
  }
}

/** The newest entry's position, or "0-0" for an empty stream. */
async function lastPosition(redis: Redis, key: string): Promise<string> {
  const [newest] = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
  return newest?.[0] ?? '0-0';
}

/** `new BusSubscriber(options)` is the Redis subscriber, as before the interface existed. */
export const BusSubscriber = RedisBusSubscriber;
