import { describe, expect, it } from 'vitest';
import { clipForEcho, hasControlCharacters, MAX_ECHO_LENGTH, quoteForEcho } from './limits.js';

describe('hasControlCharacters', () => {
  it('finds CR, LF, ESC, NUL, DEL and C1 in a one-line field', () => {
    for (const c of ['\r', '\n', '\u001b', '\u0000', '\u007f', '\u0085', '\t']) {
      expect(hasControlCharacters(`rule${c}name`)).toBe(true);
    }
    expect(hasControlCharacters('etc-passwd-watch ✓ 日本')).toBe(false);
  });

  it('allows newlines and tabs in free text, nothing else', () => {
    expect(hasControlCharacters('line one\r\nline\ttwo', { allowNewlines: true })).toBe(false);
    expect(hasControlCharacters('bell\u0007', { allowNewlines: true })).toBe(true);
    expect(hasControlCharacters('\u001b[31mred', { allowNewlines: true })).toBe(true);
  });
});

describe('clipForEcho', () => {
  it('keeps short values and clips long ones to the limit plus an ellipsis', () => {
    expect(clipForEcho('short')).toBe('short');
    const clipped = clipForEcho('x'.repeat(200_000));
    expect(clipped).toHaveLength(MAX_ECHO_LENGTH + 1);
    expect(clipped.endsWith('…')).toBe(true);
    expect(quoteForEcho('a\nb')).toBe('"a\\nb"');
  });

  it('never cuts a surrogate pair in half', () => {
    const value = `${'x'.repeat(MAX_ECHO_LENGTH - 1)}😀😀`;
    expect(clipForEcho(value).isWellFormed()).toBe(true);
  });
});
