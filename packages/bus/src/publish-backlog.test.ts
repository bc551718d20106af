import { describe, expect, it } from 'vitest';
import { PublishBacklog } from './publish-backlog.js';

const unlimited = Number.MAX_SAFE_INTEGER;
const gapOf = (text: string) => (JSON.parse(text) as { data: { dropped: number } }).data.dropped;
/** The texts of a chunk, a gap notice shown as `gap:<dropped>`. */
const shown = (texts: string[]) => texts.map((t) => (t.startsWith('{') ? `gap:${gapOf(t)}` : t));

describe('PublishBacklog', () => {
  it('keeps the chunk in flight whatever overflows behind it, and merges adjacent drops into one gap', () => {
    const q = new PublishBacklog({ maxMessages: 3, maxBytes: unlimited });
    expect(q.push(['a', 'b', 'c', 'd'])).toEqual({ count: 1, ahead: 0 });
    expect(shown(q.take(2, unlimited).texts)).toEqual(['gap:1', 'b']);
    // b is in flight (its append may be retried, never re-cut): c, the oldest behind it, goes.
    expect(q.push(['e'])).toEqual({ count: 1, ahead: 1 });
    // Then d: the two drops behind b become one gap.
    expect(q.push(['f'])).toEqual({ count: 1, ahead: 1 });
    q.confirm();
    const chunk = q.take(10, unlimited);
    expect(shown(chunk.texts)).toEqual(['gap:2', 'e', 'f']);
    expect(chunk.messages).toBe(2);
    q.confirm();
    expect(q.isEmpty).toBe(true);
    expect(q.messages).toBe(0);
  });

  it('counts UTF-8 bytes, drops by them, and caps a chunk by them (at least one message each)', () => {
    const q = new PublishBacklog({ maxMessages: unlimited, maxBytes: 10 });
    q.push(['ééé']); // 6 bytes
    expect(q.bytes).toBe(6);
    expect(q.push(['abcd', 'xy'])).toEqual({ count: 1, ahead: 0 });
    expect(q.bytes).toBe(6);
    expect(shown(q.take(10, 5).texts)).toEqual(['gap:1']);
    q.confirm();
    expect(q.take(10, 3).texts).toEqual(['abcd']);
    q.confirm();
    expect(q.take(10, 3).texts).toEqual(['xy']);
  });
});
