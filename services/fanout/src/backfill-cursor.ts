import type { AlertKeyset } from '@tripwire/storage';

// An alert frame sent from PostgreSQL carries `<since>~<received µs>.<occurred µs>.<alert id>`:
// the resume's own position plus how far its backfill got (the keyset of that row). A browser
// cut off mid-backfill stores it like any position and resumes from it, and is sent the rows
// after that one, not the backfill again from `since`. Browsers treat positions as opaque.

const SEPARATOR = '~';
const KEYSET = /^(-?\d{1,17})\.(-?\d{1,17})\.([0-9A-Za-z-]{1,64})$/;

/** A resume position: the stream position and, for a frame from a backfill, where it got to. */
export interface ResumePosition {
  since: string;
  after: AlertKeyset | null;
}

/** Splits a client's `since`; null when its backfill part is malformed. */
export function splitResumePosition(value: string): ResumePosition | null {
  const at = value.indexOf(SEPARATOR);
  if (at < 0) return { since: value, after: null };
  const m = KEYSET.exec(value.slice(at + 1));
  if (!m) return null;
  const after = { receivedUs: Number(m[1]), occurredUs: Number(m[2]), alertId: m[3]! };
  return { since: value.slice(0, at), after };
}

/** The position of a backfilled alert frame. */
export const backfillPosition = (since: string, row: AlertKeyset) =>
  `${since}${SEPARATOR}${row.receivedUs}.${row.occurredUs}.${row.alertId}`;
