import { describe, expect, it } from 'vitest';
import { PublishConfirmations } from './publish-confirmations.js';

const settled = async (p: Promise<void>) => {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 0));
  return done;
};

describe('PublishConfirmations', () => {
  it('releases a waiter once everything up to its queue position left the queue', async () => {
    const c = new PublishConfirmations(10_000);
    const third = c.whenPublished(3);
    const fifth = c.whenPublished(5);
    c.published(2);
    expect(await settled(third)).toBe(false);
    c.dropped(1);
    expect(await settled(third)).toBe(true);
    expect(await settled(fifth)).toBe(false);
    c.published(2);
    expect(await settled(fifth)).toBe(true);
  });

  it('moves no waiter whose message is in flight when messages behind it are dropped', async () => {
    const c = new PublishConfirmations(10_000);
    const inFlight = c.whenPublished(3); // the chunk in flight holds positions 1–4
    const dropped = c.whenPublished(6); // 5–8 are dropped
    const behind = c.whenPublished(10); // 10 becomes 6
    c.dropped(4, 4);
    expect(await settled(inFlight)).toBe(false);
    expect(await settled(dropped)).toBe(true);
    c.published(4);
    expect(await settled(inFlight)).toBe(true);
    c.published(1);
    expect(await settled(behind)).toBe(false);
    c.published(1);
    expect(await settled(behind)).toBe(true);
  });

  it('holds nobody while publishing fails, nor past the longest wait, nor for an empty queue', async () => {
    const c = new PublishConfirmations(50);
    expect(await settled(c.whenPublished(0))).toBe(true);
    const waiting = c.whenPublished(1);
    c.failed();
    expect(await settled(waiting)).toBe(true);
    expect(await settled(c.whenPublished(1))).toBe(true);
    c.published(1);
    const late = c.whenPublished(1);
    expect(await settled(late)).toBe(false);
    // Nothing confirms it: only the longest wait (50 ms) releases it.
    await expect(late).resolves.toBeUndefined();
  });
});
