import { describe, expect, it } from 'vitest';
import { FlushStall } from './flush-stall.js';

describe('FlushStall', () => {
  it('finds alerts stuck longer than the statement timeout allows, once per period, until a flush finishes', () => {
    const stall = new FlushStall(500, 300);
    expect(stall.stallMs).toBe(800);
    expect(stall.check(10, 0)).toBe(false);
    expect(stall.check(10, 799)).toBe(false);
    expect(stall.stalled).toBe(false);
    expect(stall.check(10, 800)).toBe(true);
    expect(stall.stalled).toBe(true);
    expect(stall.check(10, 900)).toBe(false);
    expect(stall.check(10, 1_600)).toBe(true);
    stall.finished();
    expect(stall.stalled).toBe(false);
    expect(stall.check(10, 1_700)).toBe(false);
  });

  it('starts counting when alerts start waiting, not at the last flush of an idle hour', () => {
    const stall = new FlushStall(500, 300);
    expect(stall.check(0, 0)).toBe(false);
    expect(stall.check(5, 3_600_000)).toBe(false);
    expect(stall.check(5, 3_600_700)).toBe(false);
    expect(stall.check(0, 3_600_750)).toBe(false);
    expect(stall.check(5, 3_601_000)).toBe(false);
  });

  it('allows a minute when PostgreSQL has no statement timeout', () => {
    expect(new FlushStall(0, 5_000).stallMs).toBe(65_000);
  });
});
