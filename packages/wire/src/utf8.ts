// UTF-8 sizes without TextEncoder or Buffer: this package is built with no Node or DOM types
// (tsconfig: "types": []), so it may use only what ECMAScript itself defines.

/**
 * The bytes `s` takes in UTF-8, as TextEncoder and Buffer.byteLength count them: a lone
 * surrogate is encoded as U+FFFD (3 bytes).
 */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 4; // a pair: one code point above U+FFFF
      i++;
    } else bytes += 3; // the rest of the BMP, and a lone surrogate (U+FFFD)
  }
  return bytes;
}

const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;
