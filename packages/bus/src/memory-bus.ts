import { randomInt } from 'node:crypto';
import type { Bus, BusPublisherSettings, BusSubscriberSettings } from './bus.js';
import { type BusEntry, type BusStream, decodeBusEntry, streamKey } from './bus-message.js';
import { SerializingPublisher } from './bus-publisher.js';
import type { BusSubscriber } from './bus-subscriber.js';
import { type SkippedEntry, StreamCursor } from './stream-cursor.js';
import { type AppendedAt, formatPosition, parsePosition } from './stream-position.js';

export interface MemoryBusOptions {
  /** Messages each stream keeps for resume and warm start (Redis counts entries of up to 500 messages). */
  historyMaxLength?: number;
}

interface StoredMessage {
  ms: bigint;
  offset: bigint;
  position: string;
  raw: string;
}

/** Messages delivered per onEntries call; the rest follow on the next turn of the event loop. */
const DELIVERY_CHUNK = 1_000;
const DEFAULT_HISTORY = 100_000;

/** An epoch like the Redis script's: the time in base36, then random characters. */
const newEpoch = () =>
  Date.now().toString(36) +
  randomInt(36 ** 4)
    .toString(36)
    .padStart(4, '0');

/**
 * One stream: the same "<epoch>:<ms>-<offset>" positions as the Redis script (offsets
 * contiguous, milliseconds never going back), a capped history, and the subscribers to wake
 * when something is appended. Its epoch is made with the stream, so it is new in every
 * process: a position from the previous run is from another epoch (a reset), never "up to
 * date" in a counter that restarted below it.
 */
class MemoryStream {
  private messages: StoredMessage[] = [];
  private lastMs = 0n;
  private lastOffset = 0n;
  readonly epoch = newEpoch();
  readonly listeners = new Set<() => void>();

  constructor(private readonly maxLength: number) {}

  append(raws: readonly string[]): AppendedAt {
    const now = BigInt(Date.now());
    const ms = now > this.lastMs ? now : this.lastMs;
    this.lastMs = ms;
    const at = { epoch: this.epoch, ms, firstOffset: this.lastOffset + 1n };
    for (const raw of raws) {
      this.lastOffset++;
      this.messages.push({
        ms,
        offset: this.lastOffset,
        position: formatPosition(this.epoch, `${ms}-${this.lastOffset}`),
        raw,
      });
    }
    const excess = this.messages.length - this.maxLength;
    if (excess > 0) this.messages.splice(0, excess);
    for (const wake of this.listeners) wake();
    return at;
  }

  /** The newest stream ID handed out ("0-0" before the first). */
  get lastId(): string {
    return `${this.lastMs}-${this.lastOffset}`;
  }

  /** Up to `limit` messages after a stream ID, oldest first (Redis XREAD semantics). */
  after(streamId: string, limit: number): StoredMessage[] {
    const { ms, offset } = parsePosition(streamId);
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.messages[mid]!;
      if (m.ms < ms || (m.ms === ms && m.offset <= offset)) lo = mid + 1;
      else hi = mid;
    }
    return this.messages.slice(lo, lo + limit);
  }
}

class MemoryBusPublisher extends SerializingPublisher {
  private closed = false;

  constructor(
    private readonly stream: MemoryStream,
    private readonly settings: BusPublisherSettings,
  ) {
    super();
  }

  get backlog(): number {
    return 0;
  }

  get backlogBytes(): number {
    return 0;
  }

  publishSerialized(messages: readonly string[]): void {
    if (this.closed || messages.length === 0) return;
    const at = this.stream.append(messages);
    this.settings.onPublished?.(messages.length, messages, at);
  }

  async drain(): Promise<boolean> {
    return true;
  }

  close(): void {
    this.closed = true;
  }
}

class MemoryBusSubscriber implements BusSubscriber {
  private readonly cursor: StreamCursor;
  private started = false;
  private stopped = false;
  private scheduled: NodeJS.Immediate | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private isCaughtUp = false;
  private markCaughtUp!: () => void;
  lastReadAt = 0;
  readonly caughtUp: Promise<void>;
  private readonly wake = () => this.schedule();

  constructor(
    private readonly stream: MemoryStream,
    private readonly settings: BusSubscriberSettings,
  ) {
    this.cursor = new StreamCursor(settings.from, settings.warmStart);
    this.caughtUp = new Promise((resolve) => {
      this.markCaughtUp = resolve;
    });
  }

  get position(): string {
    return this.cursor.position;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.cursor.id === '') this.cursor.place(this.stream.lastId, this.stream.epoch);
    // A position from another epoch (an earlier process): this stream is all new to the reader.
    this.cursor.noticeEpoch(this.stream.epoch, '0-0');
    this.stream.listeners.add(this.wake);
    // Like an idle XREAD BLOCK answering empty: keeps lastReadAt fresh for /readyz.
    this.heartbeat = setInterval(() => {
      this.lastReadAt = Date.now();
    }, this.settings.blockMs ?? 5_000);
    this.heartbeat.unref();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream.listeners.delete(this.wake);
    clearInterval(this.heartbeat);
    if (this.scheduled) clearImmediate(this.scheduled);
  }

  /** Delivery happens on a later turn of the event loop, never inside publish(), as with Redis. */
  private schedule(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.read();
    });
  }

  private read(): void {
    if (this.stopped) return;
    this.lastReadAt = Date.now();
    const stored = this.stream.after(this.cursor.id, DELIVERY_CHUNK);
    if (stored.length < DELIVERY_CHUNK && !this.isCaughtUp) {
      this.isCaughtUp = true;
      this.markCaughtUp();
    }
    const epoch = this.stream.epoch;
    const entries: Array<BusEntry | SkippedEntry> = [];
    for (const m of stored) {
      try {
        entries.push(decodeBusEntry(m.position, epoch, m.raw));
      } catch (err) {
        this.settings.onMalformed?.(m.position, err as Error);
        entries.push({ position: m.position, epoch, skipped: true });
      }
    }
    this.cursor.advance(entries, this.settings.onEntries, this.settings.onGap);
    if (stored.length === DELIVERY_CHUNK) this.schedule();
  }
}

/**
 * The bus inside one process, for the single-process stack (`pnpm start`
 * without REDIS_URL): the Redis bus's positions, ordering, history, resume
 * and gap reports, without Redis. History lives as long as the process.
 */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const streams = new Map<string, MemoryStream>();
  const streamFor = (keyPrefix?: string, stream?: BusStream) => {
    const key = streamKey(keyPrefix, stream);
    let s = streams.get(key);
    if (!s) {
      s = new MemoryStream(options.historyMaxLength ?? DEFAULT_HISTORY);
      streams.set(key, s);
    }
    return s;
  };
  return {
    publisher: (settings) =>
      new MemoryBusPublisher(streamFor(settings.keyPrefix, settings.stream), settings),
    subscriber: (settings) =>
      new MemoryBusSubscriber(streamFor(settings.keyPrefix, settings.stream), settings),
    status: () => 'ready',
  };
}
