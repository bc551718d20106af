import { describe, expect, it } from 'vitest';
import { utf8ByteLength } from './utf8.js';

// The reference count is Node's (the tests run on Node), reached without Node's types: this
// package compiles with none, and vitest 4's typings no longer bring them in.
const { Buffer } = globalThis as unknown as { Buffer: { byteLength(s: string): number } };

describe('utf8ByteLength', () => {
  it('counts what Buffer.byteLength counts, lone surrogates as U+FFFD', () => {
    const samples = [
      '',
      'ascii /etc/passwd',
      'é€',
      '日本語',
      '😀 pair',
      '\u{10ffff}',
      'lone high \ud800 end',
      'lone low \udc00',
      'high at the end \ud83d',
      'two highs \ud83d\ud83d\ude00',
      '\u0000\u007f\u0080\u07ff\u0800\uffff',
    ];
    for (const s of samples)
      expect(utf8ByteLength(s), JSON.stringify(s)).toBe(Buffer.byteLength(s));
  });
});
