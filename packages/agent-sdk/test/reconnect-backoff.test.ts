import { describe, expect, it } from 'vitest';
import { ReconnectBackoff } from '../src/index.js';

describe('ReconnectBackoff', () => {
  it('starts at 1 s, grows x1.5 up to 60 s, and starts over after reset', () => {
    const backoff = new ReconnectBackoff({}, () => 0.5); // no jitter
    const waits = Array.from({ length: 14 }, () => backoff.next());
    expect(waits.slice(0, 5)).toEqual([1_000, 1_500, 2_250, 3_375, 5_063]);
    expect(waits.at(-1)).toBe(60_000);
    expect(Math.max(...waits)).toBe(60_000);
    backoff.reset();
    expect(backoff.next()).toBe(1_000);
  });

  it('randomizes each wait by at most ±20%, never beyond the cap', () => {
    const low = new ReconnectBackoff({}, () => 0);
    const high = new ReconnectBackoff({}, () => 0.999_999);
    expect(low.next()).toBe(800);
    expect(high.next()).toBe(1_200);
    for (let i = 0; i < 20; i++) high.next();
    expect(high.next()).toBe(60_000);
    for (let i = 0; i < 20; i++) low.next();
    expect(low.next()).toBe(48_000);
  });
});
