import { PRINTABLE_LINE, SEARCH_LENGTH } from '@tripwire/wire';
import { InvalidQueryError } from './query-errors.js';

/**
 * The text an alert search looks in: migration 0015's alert_search_text, spelled as there so
 * PostgreSQL uses its trigram index (alerts_search_trgm_idx) when pg_trgm is installed.
 */
export const ALERT_SEARCH_TEXT = 'alert_search_text(a.rule_name, a.event_detail)';

/**
 * The ILIKE pattern for a search `q`: a case-insensitive substring of the rule name or of any
 * key or value in event_detail. The text searched is JSON (0015), so `q` is JSON-escaped the
 * same way (a `C:\Temp` in the detail is `C:\\Temp` there), then LIKE's own characters (`\`,
 * `%`, `_`) are escaped: a `%` in `q` is a percent sign, never a wildcard. Refused unless one
 * printable line of SEARCH_LENGTH characters after trimming: fewer than 3 make no trigram
 * (every row would be read) and match nearly everything anyway.
 */
export function alertSearchPattern(q: string): string {
  const text = q.trim();
  if (text.length < SEARCH_LENGTH.min || text.length > SEARCH_LENGTH.max) {
    throw new InvalidQueryError(
      `q must be ${SEARCH_LENGTH.min} to ${SEARCH_LENGTH.max} characters (got ${text.length})`,
    );
  }
  if (!PRINTABLE_LINE.test(text))
    throw new InvalidQueryError('q must not contain control characters');
  const asJson = JSON.stringify(text).slice(1, -1);
  return `%${asJson.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
