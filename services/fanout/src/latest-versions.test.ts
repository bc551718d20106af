import { describe, expect, it } from 'vitest';
import { LatestVersions } from './latest-versions.js';

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
