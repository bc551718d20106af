import type { BusMessage } from './bus-message.js';

/** Messages and UTF-8 bytes the backlog may hold (in flight included) before it drops the oldest waiting ones. */
export interface BacklogLimits {
  maxMessages: number;
  maxBytes: number;
}

/** What one overflow dropped: `count` messages, with `ahead` messages (the chunk in flight) still in front of them. */
export interface BacklogDrop {
  count: number;
  ahead: number;
}

/** One stream entry's worth of texts, taken from the head of the backlog. */
export interface BacklogChunk {
  texts: string[];
  /** How many of the texts are messages callers handed in (the rest are gap notices). */
  messages: number;
}

interface WaitingMessage {
  text: string;
  bytes: number;
}

/** Where messages were dropped: published as a `gap` message in their place. */
interface GapMarker {
  dropped: number;
  first: Date;
  last: Date;
}

type BacklogItem = WaitingMessage | GapMarker;

const isGap = (item: BacklogItem): item is GapMarker => 'dropped' in item;

/** The `gap` message that stands where dropped messages would have been. */
export function gapNotice(gap: GapMarker): string {
  return JSON.stringify({
    type: 'gap',
    data: {
      dropped: gap.dropped,
      first_dropped_at: gap.first.toISOString(),
      last_dropped_at: gap.last.toISOString(),
      reason: 'Redis was unreachable for longer than the publish backlog lasts',
    },
  } satisfies BusMessage);
}

/**
 * The publisher's queue, bounded in messages and in bytes. The chunk whose append is in flight
 * stays at the head, untouchable: an overflow drops the oldest messages *behind* it and leaves a
 * gap marker where they were. A chunk whose append failed stays in flight (the publisher retries
 * it as it was, under its receipt: its first append may have run), so it is removed exactly once
 * (confirm), and every message is either appended or counted as
 * dropped, never both. Gap markers are not messages: they count toward neither limit nor
 * `messages`, so callers that track queue positions in messages (publish confirmations) stay exact.
 */
export class PublishBacklog {
  private items: BacklogItem[] = [];
  /** Items at the head that belong to the chunk being appended. */
  private inFlightItems = 0;
  private inFlightMessages = 0;
  private messageCount = 0;
  private byteCount = 0;

  constructor(private readonly limits: BacklogLimits) {}

  /** Messages not yet in the stream (in flight included). */
  get messages(): number {
    return this.messageCount;
  }

  /** Their UTF-8 size. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Nothing left to append: no message and no gap notice. */
  get isEmpty(): boolean {
    return this.items.length === 0;
  }

  /** Queues messages; if that overflows a limit, drops the oldest waiting ones and says how many. */
  push(texts: readonly string[]): BacklogDrop | undefined {
    for (const text of texts) {
      const bytes = Buffer.byteLength(text, 'utf8');
      this.items.push({ text, bytes });
      this.messageCount++;
      this.byteCount += bytes;
    }
    return this.overLimit() ? this.dropOldestWaiting() : undefined;
  }

  /**
   * Marks the head as in flight and returns it: at most `maxTexts` texts and `maxBytes` bytes
   * (separators counted), but always at least one, so an entry's size is bounded unless a single
   * message is larger than `maxBytes`.
   */
  take(maxTexts: number, maxBytes: number): BacklogChunk {
    const texts: string[] = [];
    let messages = 0;
    let bytes = 0;
    for (const item of this.items) {
      const text = isGap(item) ? gapNotice(item) : item.text;
      const size = (isGap(item) ? text.length : item.bytes) + 1;
      if (texts.length > 0 && (texts.length >= maxTexts || bytes + size > maxBytes)) break;
      texts.push(text);
      bytes += size;
      if (!isGap(item)) messages++;
    }
    this.inFlightItems = texts.length;
    this.inFlightMessages = messages;
    return { texts, messages };
  }

  /** The chunk in flight is in the stream: it leaves the backlog. */
  confirm(): void {
    for (const item of this.items.splice(0, this.inFlightItems)) {
      if (isGap(item)) continue;
      this.messageCount--;
      this.byteCount -= item.bytes;
    }
    this.inFlightItems = 0;
    this.inFlightMessages = 0;
  }

  private overLimit(): boolean {
    return this.messageCount > this.limits.maxMessages || this.byteCount > this.limits.maxBytes;
  }

  /**
   * Drops waiting messages from the oldest until within the limits (or none wait), merging any
   * gap marker met on the way and one right after, so one notice stands for one hole.
   */
  private dropOldestWaiting(): BacklogDrop | undefined {
    const from = this.inFlightItems;
    const now = new Date();
    const gap: GapMarker = { dropped: 0, first: now, last: now };
    let end = from;
    let count = 0;
    const absorb = (item: BacklogItem) => {
      if (isGap(item)) {
        gap.dropped += item.dropped;
        if (item.first < gap.first) gap.first = item.first;
        return;
      }
      count++;
      this.messageCount--;
      this.byteCount -= item.bytes;
    };
    while (end < this.items.length && this.overLimit()) absorb(this.items[end++]!);
    if (end === from) return undefined;
    const next = this.items[end];
    if (next && isGap(next)) absorb(this.items[end++]!);
    gap.dropped += count;
    this.items.splice(from, end - from, gap);
    return count > 0 ? { count, ahead: this.inFlightMessages } : undefined;
  }
}
