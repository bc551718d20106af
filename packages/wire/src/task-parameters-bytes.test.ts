import { describe, expect, it } from 'vitest';
import { validateTaskParameters } from './task-parameters.js';

describe('task parameter sizes are counted in UTF-8 bytes', () => {
  // The path limit is 4096 bytes: "/tmp/" plus 2000 characters of 1, 2, 3, 4 bytes (a surrogate
  // pair) and 3 (a lone surrogate, written as U+FFFD) fit in characters, not all in bytes.
  it.each([
    ['a', 2005, true],
    ['é', 4005, true],
    ['€', 6005, false],
    ['😀', 8005, false],
    ['\ud800', 6005, false],
  ])('"%s" × 2000 is %i bytes (fits: %s)', (ch, bytes, fits) => {
    const run = () => validateTaskParameters('file_hash', { path: `/tmp/${ch.repeat(2000)}` });
    if (fits) expect(run).not.toThrow();
    else expect(run).toThrow(`parameters.path: is ${bytes} bytes; at most 4096`);
  });
});
