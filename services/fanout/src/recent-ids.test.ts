import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

describe('RecentIds', () => {
  it('reports repeats and forgets the oldest beyond its capacity', () => {
    const r = new RecentIds(2);
    expect(r.add('a')).toBe(true);
    expect(r.add('a')).toBe(false);
    expect(r.add('b')).toBe(true);
    expect(r.add('c')).toBe(true);
    expect(r.add('a')).toBe(true);
    expect(r.add('c')).toBe(false);
  });
});
