// The trace context of a bus message: an optional last member of its JSON envelope,
// {"type":…,"data":{…},"traceparent":"00-<trace id>-<span id>-01"}, written by the publishing
// service (ingest: its "ingest.publish" span) so the fan-out's delivery spans join the trace.
// Readers split it off before anything else sees the message: `raw` (spliced into browser
// frames) and `message` never hold it, and a message without it (older publishers, tracing
// off) reads exactly as before. The bus only carries the value: it knows nothing of OpenTelemetry.

/** A W3C traceparent, version 00: the only form written and read. */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;
const TRACEPARENT_LENGTH = 55;
const MEMBER = ',"traceparent":"';
/** The member, its value and the envelope's closing `"}`. */
const TAIL_LENGTH = MEMBER.length + TRACEPARENT_LENGTH + 2;

/** `json` (a message's envelope) with `traceparent` as its last member; unchanged if absent or not a traceparent. */
export function withTraceparent(json: string, traceparent: string | undefined): string {
  if (traceparent === undefined || !TRACEPARENT.test(traceparent) || !json.endsWith('}')) {
    return json;
  }
  return `${json.slice(0, -1)}${MEMBER}${traceparent}"}`;
}

/**
 * The envelope without its traceparent member, and the traceparent. Looks only at the fixed-size
 * tail (no parse, no search): called on every message the fan-out reads.
 */
export function splitTraceparent(json: string): { json: string; traceparent?: string } {
  const start = json.length - TAIL_LENGTH;
  if (start < 0 || !json.startsWith(MEMBER, start) || !json.endsWith('"}')) return { json };
  const traceparent = json.slice(start + MEMBER.length, json.length - 2);
  if (!TRACEPARENT.test(traceparent)) return { json };
  return { json: `${json.slice(0, start)}}`, traceparent };
}
