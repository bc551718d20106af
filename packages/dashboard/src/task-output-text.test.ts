import { describe, expect, it } from 'vitest';
import { outputRuns, plainText } from './task-output-text.js';
import type { TaskOutputStream } from './task-types.js';

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

const chunk = (sequence: number, stream: TaskOutputStream, text: string | null) => ({
  task_id: 't',
  sequence,
  stream,
  offset: 0,
  bytes: text?.length ?? 10,
  text,
});

describe('outputRuns', () => {
  it('joins consecutive chunks of a stream, keeps stdout and stderr apart, never shows file bytes', () => {
    expect(
      outputRuns([
        chunk(1, 'stdout', 'a'),
        chunk(2, 'stdout', 'b'),
        chunk(3, 'stderr', 'E'),
        chunk(4, 'stdout', 'c'),
        chunk(5, 'listing', '[{"pid":1}]'),
        chunk(6, 'file', null),
      ]),
    ).toEqual([
      { stream: 'stdout', text: 'ab' },
      { stream: 'stderr', text: 'E' },
      { stream: 'stdout', text: 'c' },
      { stream: 'listing', text: '[{"pid":1}]\n' },
      { stream: 'file', text: '[10 bytes of file content at 0: download them]\n' },
    ]);
  });
});
