import { describe, expect, it } from 'vitest';
import { outputRuns, plainText } from './task-output-text.js';

describe('plainText', () => {
  it('strips colours, titles and cursor moves and shows other control characters', () => {
    expect(plainText('\x1b[1;31mred\x1b[0m ok')).toBe('red ok');
    expect(plainText('\x1b]0;evil title\x07after')).toBe('after');
    expect(plainText('a\x1b[2Kb\x1b[3Ac')).toBe('abc');
    expect(plainText('bell\x07 nul\x00')).toBe('bell\\x07 nul\\x00');
    expect(plainText('win\r\nline\rover')).toBe('win\nline\nover');
    expect(plainText('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('outputRuns', () => {
  it('joins consecutive chunks of a stream and keeps stdout and stderr apart', () => {
    expect(
      outputRuns([
        { sequence: 1, stream: 'stdout', text: 'a' },
        { sequence: 2, stream: 'stdout', text: 'b' },
        { sequence: 3, stream: 'stderr', text: 'E' },
        { sequence: 4, stream: 'stdout', text: 'c' },
        { sequence: 5, stream: 'data', data: [{ pid: 1 }, { pid: 2 }] },
      ]),
    ).toEqual([
      { stream: 'stdout', text: 'ab' },
      { stream: 'stderr', text: 'E' },
      { stream: 'stdout', text: 'c' },
      { stream: 'data', text: '{"pid":1}\n{"pid":2}\n' },
    ]);
  });
});
