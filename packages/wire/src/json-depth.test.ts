import { describe, expect, it } from 'vitest';
import { jsonNestedDeeperThan } from './json-depth.js';

describe('jsonNestedDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    expect(jsonNestedDeeperThan('{"a":[1,{"b":[]}]}', 4)).toBe(false);
    expect(jsonNestedDeeperThan('{"a":[1,{"b":[]}]}', 3)).toBe(true);
    expect(jsonNestedDeeperThan('{"a":"[[[[[[\\"[[[["}', 1)).toBe(false);
    expect(jsonNestedDeeperThan('"\\\\"', 0)).toBe(false);
  });

  it('refuses 100,000 levels in one pass (no stack to overflow)', () => {
    expect(jsonNestedDeeperThan('['.repeat(100_000) + ']'.repeat(100_000), 64)).toBe(true);
    expect(jsonNestedDeeperThan(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBe(false);
  });
});
