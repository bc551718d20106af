/**
 * Whether JSON text nests arrays/objects deeper than `max`, found by one pass over the text
 * without recursion and without parsing it, so a 64 KiB `[[[[…` is refused before any
 * recursive code (JSON.parse's reviver, a filter walk, JSON.stringify of an echo) meets it.
 * Brackets inside strings do not count. Malformed text is left for JSON.parse to refuse.
 */
export function jsonNestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
