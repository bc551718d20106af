// An alert's event_detail_json, made storable: nesting bounded without recursion, strings
// PostgreSQL can hold, the clock-skew flags added, and clipped to MAX_EVENT_DETAIL_BYTES rather
// than refused (the limit bounds what is stored, not whether the alert exists).
import { jsonNestedDeeperThan, MAX_JSON_DEPTH } from '@tripwire/wire';

export type DetailFault = 'too_deep' | 'invalid';

export type StoredDetail =
  | { ok: true; json: string | null; clipped: boolean }
  | { ok: false; fault: DetailFault; reason: string };

/** Fields the server adds to a detail (clock skew); set only when there is something to say. */
export type DetailFlags = Record<string, number>;

/** Every value in a parsed JSON document, keys included, walked with an explicit stack. */
function* walk(root: unknown): Generator<unknown> {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    yield value;
    if (Array.isArray(value)) stack.push(...value);
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) stack.push(key, item);
    }
  }
}

/** PostgreSQL text and jsonb cannot hold NUL or unpaired surrogates; find one before it fails a whole batch. */
export function unstorableString(value: unknown): string | null {
  for (const v of walk(value)) {
    if (typeof v !== 'string') continue;
    if (v.includes('\u0000')) return 'contains \\u0000, which PostgreSQL cannot store';
    if (!v.isWellFormed()) return 'contains an unpaired UTF-16 surrogate escape';
  }
  return null;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The detail as an object the server may add keys to: a non-object detail is kept under "value". */
const asObject = (detail: unknown): Record<string, unknown> =>
  detail === undefined ? {} : isRecord(detail) ? { ...detail } : { value: detail };

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/** `s` cut to `max` UTF-16 units plus "…", never splitting a surrogate pair. */
function clipString(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s.charAt(max - 1)) ? max - 1 : max;
  return `${s.slice(0, end)}…`;
}

/** The detail as JSON with every string value longer than `max` UTF-16 units clipped. */
const withStringsClipped = (detail: unknown, max: number): string =>
  // The replacer visits every value; nesting is already bounded by MAX_JSON_DEPTH.
  JSON.stringify(detail, (_key, v) => (typeof v === 'string' ? clipString(v, max) : v));

/** The "truncated" marker, merged into one the agent may already have set. */
function marked(
  detail: Record<string, unknown>,
  marker: Record<string, number>,
): Record<string, unknown> {
  const earlier = isRecord(detail.truncated) ? detail.truncated : {};
  return { ...detail, truncated: { ...earlier, ...marker } };
}

const MIN_STRING_CHARS = 16;

/**
 * The detail clipped to `maxBytes`: every string longer than some length cut to it, that length
 * the longest (found by bisection) at which the whole fits, so the longest strings lose most; if
 * even short strings do not fit (a detail of very many keys), a marker and a preview of the
 * original text instead.
 */
function clipToFit(
  detail: Record<string, unknown>,
  originalText: string,
  maxBytes: number,
): string {
  const event_detail_bytes = byteLength(originalText);
  // No string longer than the whole limit can stay: cut those once, so bisection works on less.
  const reduced = JSON.parse(withStringsClipped(detail, maxBytes)) as Record<string, unknown>;
  const attempt = (maxChars: number): string | null => {
    const marker = { event_detail_bytes, string_max_chars: maxChars };
    const text = withStringsClipped(marked(reduced, marker), maxChars);
    return byteLength(text) <= maxBytes ? text : null;
  };
  let best = attempt(MIN_STRING_CHARS);
  if (best !== null) {
    let low = MIN_STRING_CHARS;
    let high = maxBytes;
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      const text = attempt(mid);
      if (text === null) high = mid;
      else {
        low = mid;
        best = text;
      }
    }
    return best;
  }
  const truncated = { event_detail_bytes };
  // Six bytes is the most one UTF-16 unit of the preview can take once JSON-escaped.
  const previewChars = Math.max(0, Math.floor((maxBytes - 128) / 6));
  const withPreview = JSON.stringify({
    truncated,
    preview: clipString(originalText, previewChars),
  });
  return byteLength(withPreview) <= maxBytes ? withPreview : JSON.stringify({ truncated });
}

/**
 * event_detail_json as it will be stored: null for empty; refused only when it is not JSON,
 * nests deeper than MAX_JSON_DEPTH, or holds what PostgreSQL cannot store. `flags` (clock skew)
 * are added as top-level keys; a result over `maxBytes` is clipped and marked "truncated".
 */
export function storedDetail(text: string, flags: DetailFlags, maxBytes: number): StoredDetail {
  const hasFlags = Object.keys(flags).length > 0;
  if (text === '' && !hasFlags) return { ok: true, json: null, clipped: false };
  if (jsonNestedDeeperThan(text, MAX_JSON_DEPTH)) {
    return {
      ok: false,
      fault: 'too_deep',
      reason: `event_detail_json nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`,
    };
  }
  let detail: unknown;
  if (text !== '') {
    try {
      detail = JSON.parse(text);
    } catch (err) {
      const message = clipString((err as Error).message, 200);
      return {
        ok: false,
        fault: 'invalid',
        reason: `event_detail_json is not valid JSON: ${message}`,
      };
    }
  }
  const problem = unstorableString(detail);
  if (problem) return { ok: false, fault: 'invalid', reason: `event_detail_json ${problem}` };
  const withFlags = hasFlags ? { ...asObject(detail), ...flags } : detail;
  const json = hasFlags ? JSON.stringify(withFlags) : text;
  const bytes = byteLength(json);
  if (bytes <= maxBytes) return { ok: true, json, clipped: false };
  return {
    ok: true,
    json: clipToFit(asObject(withFlags), text, maxBytes),
    clipped: true,
  };
}
