// Fitting an alert's detail into the server's limits: strings PostgreSQL cannot store are
// repaired, and the largest strings are cut until the JSON fits, each cut recorded in
// `truncated` as { "<field>": <original size in bytes> }. An alert is never refused for its size.

/** What clipDetail did, for logs and counters. */
export interface ClippedDetail {
  json: string;
  /** Fields cut (dotted paths), with their original size in bytes. */
  truncated: Record<string, number>;
  /** Strings whose NUL or unpaired surrogates were replaced with U+FFFD. */
  repaired: number;
  /** The detail was too large even with every string cut: only its start was kept. */
  replaced: boolean;
}

interface StringLeaf {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  path: string;
}

/** At most this many strings are considered for cutting; deeper or later ones stay whole. */
const MAX_LEAVES = 10_000;
/** Room for the `truncated` entry a cut adds (its path, a number, quotes and commas). */
const MARKER_BYTES = 48;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** NUL and unpaired surrogates (which PostgreSQL text and jsonb refuse) become U+FFFD. */
export function repairString(s: string): string {
  const wellFormed = s.isWellFormed() ? s : s.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
export function clipUtf8(s: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes) return s;
  const buf = Buffer.from(s);
  // Back off to the start of the character the cut falls in (continuation bytes are 10xxxxxx).
  let end = maxBytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}

/** Every string value under `root` (objects and arrays walked without recursion), with its path. */
function stringLeaves(root: Record<string, unknown>): StringLeaf[] {
  const leaves: StringLeaf[] = [];
  const stack: Array<{ value: unknown; path: string }> = [{ value: root, path: '' }];
  while (stack.length > 0 && leaves.length < MAX_LEAVES) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    const entries: Array<[string | number, unknown]> = Array.isArray(value)
      ? value.map((v, i) => [i, v])
      : Object.entries(value);
    for (const [key, child] of entries) {
      const childPath = path ? `${path}.${key}` : String(key);
      if (typeof child === 'string')
        leaves.push({ holder: value as Record<string, unknown>, key, path: childPath });
      else if (child !== null && typeof child === 'object')
        stack.push({ value: child, path: childPath });
    }
  }
  return leaves;
}

const getLeaf = (l: StringLeaf) => (l.holder as Record<string | number, unknown>)[l.key] as string;
const setLeaf = (l: StringLeaf, s: string) => {
  (l.holder as Record<string | number, unknown>)[l.key] = s;
};

/** The detail's own `truncated` object (a sensor may have cut a field before), to add cuts to. */
function truncatedOf(detail: Record<string, unknown>): Record<string, number> {
  const existing = detail.truncated;
  if (existing && typeof existing === 'object' && !Array.isArray(existing))
    return existing as Record<string, number>;
  const fresh: Record<string, number> =
    existing === undefined ? {} : { truncated: jsonBytes(existing) };
  detail.truncated = fresh;
  return fresh;
}

/**
 * `detail` as JSON of at most `maxBytes` bytes (UTF-8) that PostgreSQL can store. Strings are
 * repaired; while too large, the largest strings are cut (each one's original size recorded in
 * `truncated`); if that is not enough (thousands of keys, huge numbers), the detail becomes
 * `{ truncated: { detail: <size> }, detail_head: "<its JSON's start>" }`.
 */
export function clipDetail(detail: unknown, maxBytes: number): ClippedDetail {
  const original = JSON.stringify(detail ?? {});
  const originalBytes = Buffer.byteLength(original);
  const copy = JSON.parse(original) as unknown;
  const wrapped = copy === null || typeof copy !== 'object' || Array.isArray(copy);
  const root = (wrapped ? { value: copy } : copy) as Record<string, unknown>;
  // A sensor's own `truncated` marks are never cut (they are what says what was cut).
  const leaves = stringLeaves(root).filter(
    (l) => l.path !== 'truncated' && !l.path.startsWith('truncated.'),
  );
  let repaired = 0;
  for (const leaf of leaves) {
    const s = getLeaf(leaf);
    const fixed = repairString(s);
    if (fixed !== s) {
      setLeaf(leaf, fixed);
      repaired++;
    }
  }
  const changed = repaired > 0 || wrapped;
  let json = changed ? JSON.stringify(root) : original;
  let bytes = changed ? Buffer.byteLength(json) : originalBytes;
  const cuts: Record<string, number> = {};
  // Largest first; each cut takes the whole remaining excess (estimated), so few strings are cut.
  const bySize = leaves
    .map((leaf) => ({ leaf, size: Buffer.byteLength(getLeaf(leaf)) }))
    .sort((a, b) => b.size - a.size);
  for (let attempt = 0; attempt < 3 && bytes > maxBytes; attempt++) {
    let estimate = bytes;
    for (const { leaf, size } of bySize) {
      if (estimate <= maxBytes) break;
      const s = getLeaf(leaf);
      const current = Buffer.byteLength(s);
      if (current <= 16) break;
      const encoded = jsonBytes(s);
      const marker =
        cuts[leaf.path] === undefined ? MARKER_BYTES + Buffer.byteLength(leaf.path) : 0;
      const excess = estimate - maxBytes + marker;
      // Escapes make a string's JSON larger than the string: cut in proportion.
      const keep = Math.floor((current * Math.max(0, encoded - excess)) / encoded);
      const clipped = clipUtf8(s, Math.min(keep, current - 1));
      setLeaf(leaf, clipped);
      cuts[leaf.path] ??= size;
      estimate -= encoded - jsonBytes(clipped) - marker;
    }
    const marks = truncatedOf(root);
    for (const [path, size] of Object.entries(cuts)) marks[path] ??= size;
    json = JSON.stringify(root);
    bytes = Buffer.byteLength(json);
  }
  if (bytes <= maxBytes) return { json, truncated: cuts, repaired, replaced: false };
  return {
    json: detailAsText(original, maxBytes),
    truncated: { detail: originalBytes },
    repaired,
    replaced: true,
  };
}

/**
 * The last resort: `{ truncated: { detail: <size> }, detail_head: "<the JSON's start>" }`, at most
 * `maxBytes`: the detail's text survives as a string even when its shape cannot be stored.
 */
export function detailAsText(original: string, maxBytes: number): string {
  const originalBytes = Buffer.byteLength(original);
  const wrap = (head: string) =>
    JSON.stringify({ truncated: { detail: originalBytes }, detail_head: head });
  let budget = Math.max(0, maxBytes - 64);
  let json = wrap(repairString(clipUtf8(original, budget)));
  // Escaping can grow the head up to 6x; halve until it fits.
  while (Buffer.byteLength(json) > maxBytes && budget > 0) {
    budget = Math.floor(budget / 2);
    json = wrap(repairString(clipUtf8(original, budget)));
  }
  return json;
}
