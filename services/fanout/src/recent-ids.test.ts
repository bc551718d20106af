import { describe, expect, it } from 'vitest';
import { LatestVersions, RecentIds } from './recent-ids.js';

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

describe('LatestVersions', () => {
  it('refuses versions lower than one seen, accepts equal and higher ones', () => {
    const v = new LatestVersions(10);
    expect(v.offer('h1', 2)).toBe(true);
    expect(v.offer('h1', 1)).toBe(false);
    expect(v.offer('h1', 2)).toBe(true);
    expect(v.offer('h1', 3)).toBe(true);
    expect(v.offer('h2', 1)).toBe(true);
  });

  it('forgets the least recently updated key beyond its capacity', () => {
    const v = new LatestVersions(2);
    v.offer('a', 5);
    v.offer('b', 5);
    v.offer('a', 6);
    v.offer('c', 5);
    expect(v.offer('a', 1)).toBe(false);
    expect(v.offer('b', 1)).toBe(true);
  });
});
