import { type BusEntry, parsePosition } from '@tripwire/bus';
import { quoteForEcho } from '@tripwire/wire';
import type { FanoutConfig } from './config.js';
import type { FilterSubject } from './subscription-filter.js';

export interface ReplayEntry {
  offset: bigint;
  position: string;
  /** When Redis appended it (the position's ms part). */
  appendedAtMs: number;
  /**
   * What subscription filters look at (alerts and incidents); absent for frames
   * every socket gets (host changes).
   */
  subject?: FilterSubject;
  /** The WebSocket frame, encoded once. */
  frame: string;
}

/** Splices the position into the stored JSON, so a frame costs no parse or stringify per message. */
export function frameFor(entry: BusEntry): string {
  const prefix = `{"type":"${entry.message.type}",`;
  if (entry.raw.startsWith(prefix)) {
    return `${prefix}"position":"${entry.position}",${entry.raw.slice(prefix.length)}`;
  }
  return JSON.stringify({ ...entry.message, position: entry.position });
}

export type ReplayResult =
  | { ok: true; entries: ReplayEntry[] }
  | { ok: false; reason: string; oldest: string | null };

/** What an entry weighs against the byte budget: its frame's UTF-8 size (the frame is most of it). */
const entryBytes = (entry: ReplayEntry): number => Buffer.byteLength(entry.frame, 'utf8');

/**
 * The recent stream in memory (alert, incident and host frames), bounded by
 * count, bytes and age: what a reconnecting browser is replayed from. Offsets are
 * contiguous, so "everything after P" is exact, and a position older than the
 * window is refused, not guessed.
 */
export class ReplayWindow {
  private entries: ReplayEntry[] = [];
  private sizes: number[] = [];
  private start = 0;
  private byteCount = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly windowMs: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** The frames' size now held (HISTORY_MAX_BYTES bounds it). */
  get bytes(): number {
    return this.byteCount;
  }

  add(entry: ReplayEntry): void {
    const size = entryBytes(entry);
    this.entries.push(entry);
    this.sizes.push(size);
    this.byteCount += size;
    const cutoff = Date.now() - this.windowMs;
    while (
      this.entries.length - this.start > this.maxEntries ||
      (this.byteCount > this.maxBytes && this.entries.length - this.start > 1) ||
      (this.start < this.entries.length && this.entries[this.start]!.appendedAtMs < cutoff)
    ) {
      this.byteCount -= this.sizes[this.start]!;
      this.start++;
    }
    if (this.start > 4096 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.sizes = this.sizes.slice(this.start);
      this.start = 0;
    }
  }

  /** Forget everything (the stream lost entries, so older positions cannot be trusted). */
  clear(): void {
    this.entries = [];
    this.sizes = [];
    this.start = 0;
    this.byteCount = 0;
  }

  get latest(): string | null {
    return this.entries[this.entries.length - 1]?.position ?? null;
  }

  get oldest(): string | null {
    return this.entries[this.start]?.position ?? null;
  }

  /**
   * The entries Redis appended at or after `ms` (at most `limit`), oldest first. A resume served
   * from PostgreSQL uses it to hand over to the window when it holds no position to start after.
   */
  appendedSince(ms: number, limit = Number.POSITIVE_INFINITY): ReplayEntry[] {
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.appendedAtMs < ms) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo, lo + limit);
  }

  /** Everything after `since` (at most `limit` entries), in order, or why that cannot be done exactly. */
  replaySince(since: string, limit = Number.POSITIVE_INFINITY): ReplayResult {
    let offset: bigint;
    try {
      offset = parsePosition(since).offset;
    } catch {
      // The client's value, clipped: the reason is echoed in the welcome and an error frame.
      const reason = `${quoteForEcho(since)} is not a stream position (expected "<ms>-<offset>")`;
      return { ok: false, reason, oldest: this.oldest };
    }
    const first = this.entries[this.start];
    const last = this.entries[this.entries.length - 1];
    if (!first || !last) {
      return { ok: false, reason: 'this server has no history yet', oldest: null };
    }
    if (offset >= last.offset) return { ok: true, entries: [] };
    if (offset + 1n < first.offset) {
      return {
        ok: false,
        reason: `position ${quoteForEcho(since)} is older than the history window`,
        oldest: first.position,
      };
    }
    // Binary search for the first entry after `offset`.
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return { ok: true, entries: this.entries.slice(lo, lo + limit) };
  }
}

/** The window HISTORY_MAX_ENTRIES, HISTORY_WINDOW_S and HISTORY_MAX_BYTES describe. */
export const replayWindowFor = (
  config: Pick<FanoutConfig, 'HISTORY_MAX_ENTRIES' | 'HISTORY_WINDOW_S' | 'HISTORY_MAX_BYTES'>,
) =>
  new ReplayWindow(
    config.HISTORY_MAX_ENTRIES,
    config.HISTORY_WINDOW_S * 1000,
    config.HISTORY_MAX_BYTES,
  );
