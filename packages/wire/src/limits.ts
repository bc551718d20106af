// The length and character rules of every text field a client sends, defined once so that gRPC
// (services/ingest) and REST (services/fanout) refuse the same things with the same limits.
// Lengths count UTF-16 code units (JavaScript's `length`), as zod's `.max()` does.

/** An alert's rule_name, an incident's rule_name, a tripwire rule's name. */
export const MAX_RULE_NAME_LENGTH = 256;
/** The event_detail_json ingest stores whole by default (MAX_EVENT_DETAIL_BYTES); larger is stored clipped. */
export const DEFAULT_EVENT_DETAIL_BYTES = 64 * 1024;
/** The highest MAX_EVENT_DETAIL_BYTES may be set to, and the lowest (room for the clip marker). */
export const EVENT_DETAIL_BYTES_RANGE = { min: 1024, max: 1024 * 1024 } as const;
/** A host name as RegisterAgent takes it (the DNS limit). */
export const MAX_HOSTNAME_LENGTH = 253;
/** RegisterAgent's platform and agent_version. */
export const MAX_AGENT_LABEL_LENGTH = 64;
/** An incident's assignee. */
export const MAX_ASSIGNEE_LENGTH = 128;
/** An incident note (free text; newlines and tabs allowed). */
export const MAX_NOTE_LENGTH = 4000;
/** A resolved incident's root cause (free text; newlines and tabs allowed). */
export const MAX_ROOT_CAUSE_LENGTH = 4000;
/** A tripwire rule's target: a path, a process pattern or a port. */
export const MAX_RULE_TARGET_LENGTH = 1024;
/**
 * Alert search (`q`): at least 3 characters, the length of a trigram (a shorter one would
 * match nearly everything and could use no index), at most 200, one printable line.
 */
export const SEARCH_LENGTH = { min: 3, max: 200 } as const;
/** Deepest nesting of arrays and objects accepted in a JSON document from a client. */
export const MAX_JSON_DEPTH = 64;
/** Most characters of a client's value quoted back in an error or written to a log line. */
export const MAX_ECHO_LENGTH = 64;

/** One line of printable text: no control character at all (no CR, LF, ESC, NUL, DEL, …). */
export const PRINTABLE_LINE = /^\P{Cc}*$/u;
/** Free text: printable, plus newline, carriage return and tab. */
export const PRINTABLE_TEXT = /^(?:\P{Cc}|[\n\r\t])*$/u;

/**
 * Whether `text` holds a control character (Unicode category Cc: C0, DEL, C1). With
 * `allowNewlines`, LF, CR and tab are allowed (free-text fields such as notes).
 */
export function hasControlCharacters(text: string, opts: { allowNewlines?: boolean } = {}) {
  return !(opts.allowNewlines ? PRINTABLE_TEXT : PRINTABLE_LINE).test(text);
}

/**
 * A client's value as it may appear in an answer or a log: at most `max` characters (default
 * MAX_ECHO_LENGTH) and then "…", so a 200 KB id never travels back whole.
 */
export function clipForEcho(value: string, max = MAX_ECHO_LENGTH): string {
  if (value.length <= max) return value;
  // Do not cut a surrogate pair in half.
  const end = /[\uD800-\uDBFF]/.test(value.charAt(max - 1)) ? max - 1 : max;
  return `${value.slice(0, end)}…`;
}

/** A client's value quoted for an error message: JSON-quoted (so control characters show escaped) and clipped. */
export const quoteForEcho = (value: string, max = MAX_ECHO_LENGTH): string =>
  JSON.stringify(clipForEcho(value, max));
