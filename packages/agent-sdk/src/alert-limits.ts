// The sizes the agent clips its alerts to, so the server never refuses or clips one for a size
// the agent could have handled itself. The server's limits come from @tripwire/wire.
import { DEFAULT_EVENT_DETAIL_BYTES, EVENT_DETAIL_BYTES_RANGE } from '@tripwire/wire';

/** The most event detail any ingest configuration stores whole. */
export const MAX_DETAIL_BYTES = EVENT_DETAIL_BYTES_RANGE.max;

/** What the agent clips event_detail_json to by default: under the server's default, with room to spare. */
export const DEFAULT_DETAIL_MAX_BYTES = DEFAULT_EVENT_DETAIL_BYTES - 4 * 1024;
/** The smallest detail budget the agent clips to; a server refusing less is misconfigured. */
export const MIN_DETAIL_MAX_BYTES = EVENT_DETAIL_BYTES_RANGE.min;
/** Default cap on the dead-letter file (it is rotated once, so at most twice this on disk). */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 16 * 1024 * 1024;
/** How often one alert is fixed and sent again before it counts as unfixable. */
export const MAX_FIXES_PER_ALERT = 3;
