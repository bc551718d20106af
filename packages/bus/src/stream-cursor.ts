import type { BusEntry } from './bus-message.js';
import {
  comparePositions,
  followsDirectly,
  formatPosition,
  isPosition,
  parsePosition,
} from './stream-position.js';

/**
 * Why a reader's stream does not follow on from its last position: `trimmed`, history no longer
 * reaches back to it (capped, or dropped); `reset`, the stream started a new epoch (Redis lost its
 * data, or a replica took over and may reuse offsets), so nothing after the old position can be
 * recovered from the bus.
 */
export type StreamGapReason = 'trimmed' | 'reset';

export interface StreamGap {
  /** The last position this subscriber had seen. */
  after: string;
  /** The first position delivered after the break; the entries in between are gone from the bus. */
  resumedAt: string;
  reason: StreamGapReason;
}

/** A message that could not be read (reported by the subscriber): the cursor still moves past it. */
export interface SkippedEntry {
  position: string;
  epoch: string | null;
  skipped: true;
}

type ReadEntry = BusEntry | SkippedEntry;

/** The stream ID "<ms>-<offset>" of an entry, without parsing. */
export const streamIdOfEntry = (entry: ReadEntry): string =>
  entry.epoch === null ? entry.position : entry.position.slice(entry.epoch.length + 1);

/**
 * A subscriber's place in a stream (the stream ID and epoch of the last message delivered) and
 * the judgement of whether what comes next follows it. The Redis and the memory subscriber share
 * it, so both report breaks the same way: a change of epoch is always a `reset`, never silent.
 */
export class StreamCursor {
  /** The stream ID of the last message delivered; '' until a 'latest' reader learns where the stream ends. */
  id: string;
  /** The epoch of the last message delivered; null while unknown (an epoch-less start position). */
  epoch: string | null;
  /** Set when the stream was found reset behind the reader: the position to report as `after`. */
  private resetFrom: string | undefined;
  /** A warm start's first delivery is not checked against the start position (a point in time). */
  private unchecked: boolean;

  constructor(from: string | 'latest', warmStart = false) {
    if (from !== 'latest' && !isPosition(from)) {
      throw new Error(`"${from}" is not a stream position (expected "<epoch>:<ms>-<offset>")`);
    }
    const start = from === 'latest' ? null : parsePosition(from);
    this.id = start ? `${start.ms}-${start.offset}` : '';
    this.epoch = start?.epoch ?? null;
    this.unchecked = warmStart;
  }

  /** The last position delivered (the start position before that). */
  get position(): string {
    return this.id === '' ? '' : formatPosition(this.epoch, this.id);
  }

  /** A 'latest' reader's start: where the stream ends now. */
  place(id: string, epoch: string | null): void {
    this.id = id;
    this.epoch = epoch;
  }

  /**
   * The stream's current epoch, read from its counter, and the stream ID after which that epoch's
   * entries start. If it is not ours, the stream was reset behind us. A promoted replica can hand
   * out IDs lower than our cursor, which a read after the cursor would skip without a word: when
   * the cursor is past the epoch's start it moves back there, and the next delivery is a reset.
   * (A cursor still before it reads on: the entries tell where the epoch changes.)
   */
  noticeEpoch(epoch: string, epochStartsAfter: string): void {
    if (this.epoch === null || epoch === this.epoch || this.resetFrom !== undefined) return;
    if (comparePositions(this.id, epochStartsAfter) <= 0) return;
    this.resetFrom = this.position;
    this.id = epochStartsAfter;
  }

  /**
   * Moves over `entries` (in stream order, all after the cursor), handing them on in runs and
   * reporting each break before the run that follows it, so a reader clears what it holds before
   * the first entry of a new epoch reaches it.
   */
  advance(
    entries: ReadEntry[],
    onEntries: (entries: BusEntry[]) => void,
    onGap: ((gap: StreamGap) => void) | undefined,
  ): void {
    let run: BusEntry[] = [];
    entries.forEach((entry, i) => {
      // Within one read the entries of an epoch are contiguous: only its first is checked by offset.
      const gap = this.breakBefore(entry, i === 0);
      if (gap) {
        if (run.length > 0) onEntries(run);
        run = [];
        onGap?.(gap);
      }
      if (!('skipped' in entry)) run.push(entry);
      this.id = streamIdOfEntry(entry);
      this.epoch = entry.epoch;
    });
    if (run.length > 0) onEntries(run);
  }

  private breakBefore(entry: ReadEntry, checkOffset: boolean): StreamGap | undefined {
    const after = this.resetFrom ?? this.position;
    const wasReset = this.resetFrom !== undefined;
    this.resetFrom = undefined;
    if (this.unchecked) {
      this.unchecked = false;
      return undefined;
    }
    const otherEpoch = this.epoch !== null && entry.epoch !== null && entry.epoch !== this.epoch;
    if (wasReset || otherEpoch) return { after, resumedAt: entry.position, reason: 'reset' };
    if (checkOffset && !followsDirectly(this.id, streamIdOfEntry(entry))) {
      return { after, resumedAt: entry.position, reason: 'trimmed' };
    }
    return undefined;
  }
}
