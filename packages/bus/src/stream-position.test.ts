import { describe, expect, it } from 'vitest';
import { comparePositions, followsDirectly, isPosition } from './stream-position.js';

describe('stream positions', () => {
  it('compare numerically, not as strings', () => {
    expect(comparePositions('9-0', '10-0')).toBe(-1);
    expect(comparePositions('10-2', '10-10')).toBe(-1);
    expect(comparePositions('10-10', '10-10')).toBe(0);
    expect(comparePositions('1700000000000-1', '1700000000000-0')).toBe(1);
  });
  it('know when one directly follows another', () => {
    expect(followsDirectly('0-0', '1700000000000-1')).toBe(true);
    expect(followsDirectly('1700000000000-1', '1700000000005-2')).toBe(true);
    expect(followsDirectly('1700000000000-1', '1700000000000-3')).toBe(false);
    expect(followsDirectly('1700000000000-9', '1700000009000-1')).toBe(false);
  });
  it('recognise only <ms>-<seq>', () => {
    expect(isPosition('1700000000000-3')).toBe(true);
    expect(isPosition('$')).toBe(false);
    expect(isPosition('12')).toBe(false);
  });
});
