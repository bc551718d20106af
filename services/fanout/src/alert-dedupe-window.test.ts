import { describe, expect, it } from 'vitest';
import { AlertDedupeWindow } from './alert-dedupe-window.js';

describe('AlertDedupeWindow', () => {
  it('drops a copy within the window however many other alerts passed in between', () => {
    const w = new AlertDedupeWindow(600_000, 2_000_000);
    expect(w.add('original', 1_000)).toBe(true);
    // 150,000 alerts in one minute (2,500/s): a count of 100,000 ids would have forgotten it.
    for (let i = 0; i < 150_000; i++) w.add(`other-${i}`, 1_000 + Math.floor(i / 2.5));
    expect(w.add('original', 61_000)).toBe(false);
    expect(w.coveredMs).toBeGreaterThanOrEqual(59_000);
  });

  it('remembers an id for at least the window, and forgets it about a generation later', () => {
    const w = new AlertDedupeWindow(16_000, 1_000_000);
    w.add('a', 0);
    for (let t = 0; t <= 16_000; t += 100) w.add(`tick-${t}`, t);
    expect(w.add('a', 16_000)).toBe(false);
    for (let t = 16_000; t <= 17_100; t += 100) w.add(`tick-${t}`, t);
    expect(w.add('a', 17_100)).toBe(true);
  });

  it('keeps within its cap by forgetting the oldest early, and counts them', () => {
    let forgotten = 0;
    const w = new AlertDedupeWindow(600_000, 1_600, (n) => {
      forgotten += n;
    });
    for (let i = 0; i < 10_000; i++) w.add(`id-${i}`, i);
    expect(w.size).toBeLessThanOrEqual(1_600 + 100);
    expect(forgotten).toBe(10_000 - w.size);
    expect(w.add('id-9999', 10_000)).toBe(false);
    expect(w.add('id-0', 10_000)).toBe(true);
    expect(w.coveredMs).toBeLessThan(2_000);
  });
});
