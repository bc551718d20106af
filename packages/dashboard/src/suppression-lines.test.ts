import { describe, expect, it } from 'vitest';
import { linesToMatchers, matchersToLines } from './suppression-lines.js';

describe('suppression matcher lines', () => {
  it('round-trips matchers, values with spaces included', () => {
    const matchers = [
      { path: ['file', 'path'], op: 'prefix' as const, value: '/var/spool/cron/' },
      { path: ['cmdline'], op: 'contains' as const, value: 'backup --full now' },
    ];
    expect(linesToMatchers(matchersToLines(matchers))).toEqual({ matchers });
  });

  it('names the line that is not a matcher', () => {
    expect(linesToMatchers('path equals /a\n\npath like /b')).toEqual({
      line: 3,
      problem: 'the operator must be one of equals, prefix, contains',
    });
    expect(linesToMatchers('justapath')).toMatchObject({ line: 1 });
  });
});
