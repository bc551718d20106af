import { type BusEntry, type ParsedPosition, parsePosition } from '@tripwire/bus';
import { quoteForEcho } from '@tripwire/wire';
import type { FanoutConfig } from './config.js';
import { type RetiredAlert, RetiredAlertIds } from './retired-alert-ids.js';
import type { FilterSubject } from './subscription-filter.js';

export interface ReplayEntry {
  /** The stream epoch it was appended in: offsets only compare within one. */
  epoch: string | null;
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
 * contiguous within an epoch, so "everything after P" is exact; a position older
 * than the window, from another epoch (Redis lost its data or failed over since),
 * or without an epoch is refused, not guessed. The window holds one epoch at a time.
 */
export class ReplayWindow {
  private entries: ReplayEntry[] = [];
  private sizes: number[] = [];
  private start = 0;
  private byteCount = 0;
  /** The ids of what earlier clears dropped (a reset or a gap): see knownAlertIds. */
  private readonly retired: RetiredAlertIds;

  constructor(
    private readonly maxEntries: number,
    private readonly windowMs: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    this.retired = new RetiredAlertIds(maxEntries, windowMs);
  }

  /** The frames' size now held (HISTORY_MAX_BYTES bounds it). */
  get bytes(): number {
    return this.byteCount;
  }

  add(entry: ReplayEntry): void {
    // A new epoch starts the window afresh (the subscriber's reset, reported first, clears it
    // too): offsets of two epochs must never meet in one binary search.
    const last = this.entries[this.entries.length - 1];
    if (last && last.epoch !== entry.epoch) this.clear();
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

  /**
   * Forget every frame (the stream lost entries, so older positions cannot be trusted). The
   * alert ids are kept (bounded like the window): a browser resuming from a position the window
   * held is then served from PostgreSQL without the alerts it had (knownAlertIds).
   */
  clear(): void {
    const alerts: RetiredAlert[] = [];
    for (let i = this.start; i < this.entries.length; i++) {
      const { epoch, offset, appendedAtMs } = this.entries[i]!;
      const alertId = alertIdOf(this.entries[i]!);
      if (alertId) alerts.push({ epoch, offset, appendedAtMs, alertId });
    }
    if (alerts.length) this.retired.retire(alerts);
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

  /**
   * The ids of the alerts at or before `since` (same epoch) appended at or after `fromMs`, held
   * by the window now or before a clear: alerts a browser resuming from `since` had, which a
   * backfill from PostgreSQL starting at `fromMs` must not send again. Empty for a position
   * without an epoch or that is not a position.
   */
  knownAlertIds(since: string, fromMs: number): Set<string> {
    const ids = new Set<string>();
    let position: ParsedPosition;
    try {
      position = parsePosition(since);
    } catch {
      return ids;
    }
    const { epoch, offset } = position;
    if (epoch === null) return ids;
    this.retired.atOrBefore(epoch, offset, fromMs, ids);
    for (const e of this.appendedSince(fromMs)) {
      if (e.epoch !== epoch || e.offset > offset) continue;
      const id = alertIdOf(e);
      if (id) ids.add(id);
    }
    return ids;
  }

  /**
   * The alerts the window holds among the entries appended at or after `fromMs`: id → whether
   * the entry comes after `handOver` (a later epoch, or a later offset; every entry when
   * `handOver` is null). A backfill from PostgreSQL leaves those to the window replay.
   */
  heldAfter(fromMs: number, handOver: string | null): Map<string, boolean> {
    const held = new Map<string, boolean>();
    const cursor = handOver === null ? null : parsePosition(handOver);
    for (const e of this.appendedSince(fromMs)) {
      const id = alertIdOf(e);
      if (id === null) continue;
      held.set(id, cursor === null || e.epoch !== cursor.epoch || e.offset > cursor.offset);
    }
    return held;
  }

  /** Everything after `since` (at most `limit` entries), in order, or why that cannot be done exactly. */
  replaySince(since: string, limit = Number.POSITIVE_INFINITY): ReplayResult {
    let position: ParsedPosition;
    try {
      position = parsePosition(since);
    } catch {
      // The client's value, clipped: the reason is echoed in the welcome and an error frame.
      const reason = `${quoteForEcho(since)} is not a stream position (expected "<epoch>:<ms>-<offset>")`;
      return { ok: false, reason, oldest: this.oldest };
    }
    const first = this.entries[this.start];
    const last = this.entries[this.entries.length - 1];
    if (!first || !last) {
      return { ok: false, reason: 'this server has no history yet', oldest: null };
    }
    const refused = epochMismatch(since, position.epoch, first.epoch);
    if (refused) return { ok: false, reason: refused, oldest: first.position };
    const { offset } = position;
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

const ALERT_ID_KEY = '"alert_id":"';

/**
 * An alert entry's id, read without parsing its frame: the bus message puts `alert_id` first
 * in `data` (serializeAlertMessage), before any event detail that could hold the same key.
 */
export function alertIdOf(entry: ReplayEntry): string | null {
  if (entry.subject?.kind !== 'alert') return null;
  const at = entry.frame.indexOf(ALERT_ID_KEY);
  if (at < 0) return null;
  const start = at + ALERT_ID_KEY.length;
  // PostgreSQL spells uuids in lower case; an agent may not have.
  return entry.frame.slice(start, start + 36).toLowerCase();
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

/** Why a position cannot be compared by offset with the window's epoch, or undefined if it can. */
function epochMismatch(since: string, epoch: string | null, windowEpoch: string | null) {
  if (epoch === null) {
    return `position ${quoteForEcho(since)} has no epoch (from an earlier release): it cannot be placed exactly`;
  }
  if (epoch !== windowEpoch) {
    return `position ${quoteForEcho(since)} is from another stream epoch: Redis lost its data or failed over since`;
  }
  return undefined;
}
