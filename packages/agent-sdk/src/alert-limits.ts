// The sizes the agent clips its alerts to, so the server never refuses one for a size the agent
// could have fixed. The server's own limits (ingest's MAX_EVENT_DETAIL_BYTES, rule_name length)
// are mirrored here because packages never import a service.
// Merge note (issue 13): when packages/wire/src/limits.ts defines the shared field limits, take
// SERVER_* from there instead of repeating them.

/** Ingest's default MAX_EVENT_DETAIL_BYTES: the largest event_detail_json it stores whole. */
export const SERVER_DEFAULT_DETAIL_BYTES = 64 * 1024;
/** The most event detail any ingest configuration accepts (MAX_EVENT_DETAIL_BYTES caps at 1 MiB). */
export const MAX_DETAIL_BYTES = 1024 * 1024;
/** Ingest refuses a longer rule_name (UTF-16 code units, as JavaScript counts). */
export const SERVER_MAX_RULE_NAME = 256;

/** What the agent clips event_detail_json to by default: under the server's default, with room to spare. */
export const DEFAULT_DETAIL_MAX_BYTES = 60 * 1024;
/** The smallest detail budget the agent clips to; a server refusing less is misconfigured. */
export const MIN_DETAIL_MAX_BYTES = 1024;
/** Default cap on the dead-letter file (it is rotated once, so at most twice this on disk). */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 16 * 1024 * 1024;
/** How often one alert is fixed and sent again before it counts as unfixable. */
export const MAX_FIXES_PER_ALERT = 3;
