import { describe, expect, it } from 'vitest';
import {
  comparePositions,
  followsDirectly,
  formatPosition,
  isPosition,
  parsePosition,
  streamIdOf,
} from './stream-position.js';

describe('stream positions', () => {
  it('compare numerically, not as strings', () => {
    expect(comparePositions('9-0', '10-0')).toBe(-1);
    expect(comparePositions('10-2', '10-10')).toBe(-1);
    expect(comparePositions('10-10', '10-10')).toBe(0);
    expect(comparePositions('e1:1700000000000-1', 'e1:1700000000000-0')).toBe(1);
  });
  it('know when one directly follows another, within one epoch', () => {
    expect(followsDirectly('0-0', '1700000000000-1')).toBe(true);
    expect(followsDirectly('e1:1700000000000-1', 'e1:1700000000005-2')).toBe(true);
    expect(followsDirectly('e1:1700000000000-1', 'e1:1700000000000-3')).toBe(false);
    expect(followsDirectly('1700000000000-9', '1700000009000-1')).toBe(false);
    // Offset 2 after offset 1, but in a new epoch: the counter was reset in between.
    expect(followsDirectly('e1:1700000000000-1', 'e2:1700000000005-2')).toBe(false);
  });
  it('carry their epoch; the epoch-less form of earlier releases has none', () => {
    expect(parsePosition('mxaydg02abcd:1796507823170-2')).toEqual({
      epoch: 'mxaydg02abcd',
      ms: 1796507823170n,
      offset: 2n,
    });
    expect(parsePosition('1796507823170-2')).toEqual({
      epoch: null,
      ms: 1796507823170n,
      offset: 2n,
    });
    expect(formatPosition('abc', '5-6')).toBe('abc:5-6');
    expect(formatPosition(null, '5-6')).toBe('5-6');
    expect(streamIdOf('abc:5-6')).toBe('5-6');
  });
  it('recognise only [<epoch>:]<ms>-<seq>', () => {
    expect(isPosition('1700000000000-3')).toBe(true);
    expect(isPosition('mxaydg02abcd:1700000000000-3')).toBe(true);
    expect(isPosition('$')).toBe(false);
    expect(isPosition('12')).toBe(false);
    expect(isPosition(':1-2')).toBe(false);
    expect(isPosition('ABC:1-2')).toBe(false);
    expect(isPosition(`${'a'.repeat(17)}:1-2`)).toBe(false);
    expect(isPosition('a:b:1-2')).toBe(false);
    expect(() => parsePosition('yesterday')).toThrow(/expected "<epoch>:<ms>-<offset>"/);
  });
});
