import { describe, expect, it } from 'vitest';
import { RetiredAlertIds } from './retired-alert-ids.js';

const alert = (offset: number, ageMs = 0, epoch = 'e1') => ({
  epoch,
  offset: BigInt(offset),
  appendedAtMs: Date.now() - ageMs,
  alertId: `a${offset}`,
});

const known = (r: RetiredAlertIds, epoch: string, offset: number, fromMs = 0) => {
  const ids = new Set<string>();
  r.atOrBefore(epoch, BigInt(offset), fromMs, ids);
  return [...ids];
};

describe('RetiredAlertIds', () => {
  it('keeps at most maxEntries ids, the newest, across clears', () => {
    const r = new RetiredAlertIds(3, 60_000);
    r.retire([alert(1), alert(2)]);
    r.retire([alert(3), alert(4)]);
    expect(r.size).toBe(3);
    expect(known(r, 'e1', 10)).toEqual(['a2', 'a3', 'a4']);
  });

  it('drops ids older than the window, and answers by epoch, offset and time', () => {
    const r = new RetiredAlertIds(100, 1_000);
    r.retire([alert(1, 5_000), alert(2), alert(3)]);
    expect(known(r, 'e1', 2)).toEqual(['a2']);
    expect(known(r, 'e2', 3)).toEqual([]);
    expect(known(r, 'e1', 3, Date.now() + 1_000)).toEqual([]);
  });
});
