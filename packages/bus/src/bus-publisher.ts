import { randomInt, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type BusMessage,
  type BusStream,
  EPOCH_FIELD,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamCounterKey,
  streamKey,
} from './bus-message.js';
import { PublishBacklog } from './publish-backlog.js';
import { type AppendedAt, appendedAt } from './stream-position.js';

// Appends one chunk of messages as ONE stream entry, atomically. ARGV[3] is how many
// messages ARGV[4] holds (joined by the record separator, which valid JSON text never
// contains). Offsets are contiguous across every publisher (a shared counter): the entry
// holds messages first..last and its ID is "<ms>-<last>", with ms from the Redis clock but
// never going back; message i's position is "<epoch>:<ms>-<first+i>". One entry and one argument
// per chunk, not per message, is what keeps Redis's share of the work small.
//
// The epoch (stream-position.ts) is started here, in the same atomic step, whenever the counter
// has none (it was just created: Redis lost its data, or this is the first append) or was written
// under another replication id than this server's: a replica promoted by a failover has a new
// master_replid, and its copy of the counter may be behind what the old primary handed out.
// So within an epoch the counter never goes backwards. The epoch is Redis's time in base36 plus
// ARGV[5], random characters from the publisher (scripts have no good randomness of their own).
// `after` records the stream ID the epoch's entries follow, so readers can find where it starts.
// INFO is allowed in scripts (Redis 7 replicates a script's effects, not the script); where a
// managed Redis refuses it, the replication id reads as '' and only a new counter starts an epoch.
//
// KEYS[3] is the chunk's receipt: a publisher whose reply was lost (a command timeout while
// Redis hung, a dropped connection) retries the very same chunk under the same id, and the
// script answers the first append's ID and epoch instead of appending it again, whichever of
// the two calls Redis runs first. So a chunk is in the stream once, at the position the
// publisher reports (the ledger records it), not twice with the first copy unknown.
const APPEND_SCRIPT = `
local stream, counter, receipt = KEYS[1], KEYS[2], KEYS[3]
local maxlen, field, count, body, nonce = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local done = redis.call('GET', receipt)
if done then
  local done_id, done_epoch = string.match(done, '^(%S+) (%S+)$')
  return {done_id, done_epoch}
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local info = redis.pcall('INFO', 'replication')
local replid = type(info) == 'string' and string.match(info, 'master_replid:(%x+)') or ''
local c = redis.call('HMGET', counter, 'ms', 'offset', 'epoch', 'replid')
local last_ms, offset, epoch = tonumber(c[1] or '0'), tonumber(c[2] or '0'), c[3]
if not epoch or c[4] ~= replid then
  local digits, n, name = '0123456789abcdefghijklmnopqrstuvwxyz', ms, ''
  repeat
    local d = n % 36
    name = string.sub(digits, d + 1, d + 1) .. name
    n = math.floor(n / 36)
  until n == 0
  epoch = name .. nonce
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  local after = newest and newest[1] or '0-0'
  -- A counter lost while the stream survived: new IDs must still sort after the old ones.
  local newest_ms = tonumber(string.match(after, '^(%d+)'))
  if newest_ms > last_ms then last_ms = newest_ms + 1 end
  redis.call('HSET', counter, 'epoch', epoch, 'replid', replid, 'after', after)
end
if last_ms > ms then ms = last_ms end
offset = offset + count
local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, ms .. '-' .. offset, 'n', count, '${EPOCH_FIELD}', epoch, field, body)
redis.call('HSET', counter, 'ms', ms, 'offset', offset)
redis.call('SET', receipt, id .. ' ' .. epoch, 'EX', ARGV[6])
return {id, epoch}
`;

/** How long a chunk's receipt is kept: far beyond any retry of a chunk whose reply was lost. */
const RECEIPT_TTL_S = 900;

/** Four random base36 characters: an epoch's tail. */
const epochNonce = () =>
  randomInt(36 ** 4)
    .toString(36)
    .padStart(4, '0');

type AppendCommand = (...args: Array<string | number>) => Promise<[id: string, epoch: string]>;

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
  /** The same in UTF-8 bytes of message text (default 256 MiB): whichever limit is reached first. */
  maxBacklogBytes?: number;
  /** Messages per Redis round trip, and per stream entry. */
  maxChunk?: number;
  /** Bytes per stream entry (default 1 MiB; a single larger message still gets an entry of its own). */
  maxEntryBytes?: number;
  /**
   * After each append Redis confirmed: how many messages (gap notices not counted), the texts
   * exactly as appended, and where they are (text i at offset `at.firstOffset + i`, gap notices
   * included, in epoch `at.epoch`).
   */
  onPublished?: (count: number, messages: readonly string[], at: AppendedAt) => void;
  onError?: (err: Error) => void;
  /** `count` messages dropped, the oldest waiting ones: `ahead` messages (in flight) were in front of them. */
  onDropped?: (count: number, ahead: number) => void;
}

/** What the services use to append to a stream: Redis (RedisBusPublisher) or memory (createMemoryBus). */
export interface BusPublisher {
  /** Messages accepted but not yet in the stream. */
  readonly backlog: number;
  /** Their UTF-8 size. */
  readonly backlogBytes: number;
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
  abstract readonly backlogBytes: number;
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
  private readonly maxChunk: number;
  private readonly maxEntryBytes: number;
  private readonly options: BusPublisherOptions;
  private readonly queue: PublishBacklog;
  private running = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The chunk whose append failed: retried exactly, under the same receipt id. */
  private retrying: { texts: string[]; messages: number; id: string } | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(options: BusPublisherOptions) {
    super();
    this.options = options;
    this.redis = options.redis;
    // Sent once, then called by its SHA (EVALSHA) instead of shipping the script every time.
    this.redis.defineCommand('tripwireAppend', { numberOfKeys: 3, lua: APPEND_SCRIPT });
    this.keys = [
      streamKey(options.keyPrefix, options.stream),
      streamCounterKey(options.keyPrefix, options.stream),
    ];
    this.historyMaxLength = options.historyMaxLength ?? 100_000;
    this.maxChunk = options.maxChunk ?? 500;
    this.maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
    this.queue = new PublishBacklog({
      maxMessages: options.maxBacklog ?? 100_000,
      maxBytes: options.maxBacklogBytes ?? 256 * 1024 * 1024,
    });
  }

  /** Messages not yet in Redis. */
  get backlog(): number {
    return this.queue.messages;
  }

  get backlogBytes(): number {
    return this.queue.bytes;
  }

  /** Messages already in their JSON form (see serializeAlertMessage). */
  publishSerialized(messages: readonly string[]): void {
    if (this.closed || messages.length === 0) return;
    const drop = this.queue.push(messages);
    if (drop) this.options.onDropped?.(drop.count, drop.ahead);
    this.kick();
  }

  /** Resolves when the backlog is empty, or false after timeoutMs. */
  async drain(timeoutMs = 5_000): Promise<boolean> {
    if (this.queue.isEmpty && !this.running) return true;
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
      while (!this.queue.isEmpty && !this.closed) {
        // In flight until the reply: an overflow meanwhile drops messages behind it, never it.
        // A chunk whose append failed stays in flight and is retried as it was, under its id.
        const chunk = this.retrying ?? {
          ...this.queue.take(this.maxChunk, this.maxEntryBytes),
          id: randomUUID(),
        };
        this.retrying = chunk;
        const reply = await this.append(chunk.texts, chunk.id);
        this.retrying = undefined;
        this.queue.confirm();
        this.failures = 0;
        const [entryId, epoch] = reply;
        this.options.onPublished?.(
          chunk.messages,
          chunk.texts,
          appendedAt(epoch, entryId, chunk.texts.length),
        );
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
    if (this.queue.isEmpty) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** One script call: the chunk is appended entirely or not at all, so a retry never duplicates part of it. */
  private append(texts: readonly string[], chunkId: string): Promise<[id: string, epoch: string]> {
    return (this.redis as Redis & { tripwireAppend: AppendCommand }).tripwireAppend(
      ...this.keys,
      `${this.keys[0]}:chunk:${chunkId}`,
      this.historyMaxLength,
      MESSAGE_FIELD,
      texts.length,
      texts.join(MESSAGE_SEPARATOR),
      epochNonce(),
      RECEIPT_TTL_S,
    );
  }
}

/** `new BusPublisher(options)` is the Redis publisher, as before the interface existed. */
export const BusPublisher = RedisBusPublisher;
