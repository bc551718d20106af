import type { AlertKeyset } from '@tripwire/storage';

// An alert frame sent from PostgreSQL carries `<since>~<received µs>.<occurred µs>.<alert id>`:
// the resume's own position plus how far its backfill got (the keyset of that row). A browser
// cut off mid-backfill stores it like any position and resumes from it, and is sent the rows
// after that one, not the backfill again from `since`. Browsers treat positions as opaque.
// A third part, `~<hand-over position>`, names the window entry the backfill hands over after:
// the rows it left to the window (published after that entry) are replayed from there when the
// browser resumes mid-backfill, so the same hand-over point is used again (resume-plan.ts).

const SEPARATOR = '~';
const KEYSET = /^(-?\d{1,17})\.(-?\d{1,17})\.([0-9A-Za-z-]{1,64})$/;
const HAND_OVER = /^([0-9a-z]{1,16}:)?\d{1,17}-\d{1,20}$/;

/** A resume position: the stream position and, for a frame from a backfill, where it got to. */
export interface ResumePosition {
  since: string;
  after: AlertKeyset | null;
  /** The window entry the interrupted backfill handed over after (null: not said, or none). */
  handOver: string | null;
}

/** Splits a client's `since`; null when its backfill part is malformed. */
export function splitResumePosition(value: string): ResumePosition | null {
  const at = value.indexOf(SEPARATOR);
  if (at < 0) return { since: value, after: null, handOver: null };
  const [keyset, handOver, ...more] = value.slice(at + 1).split(SEPARATOR);
  const m = KEYSET.exec(keyset!);
  if (!m || more.length > 0 || (handOver !== undefined && !HAND_OVER.test(handOver))) return null;
  const after = { receivedUs: Number(m[1]), occurredUs: Number(m[2]), alertId: m[3]! };
  return { since: value.slice(0, at), after, handOver: handOver ?? null };
}

/** The position of a backfilled alert frame. */
export const backfillPosition = (since: string, row: AlertKeyset, handOver: string | null) =>
  `${since}${SEPARATOR}${row.receivedUs}.${row.occurredUs}.${row.alertId}${handOver === null ? '' : `${SEPARATOR}${handOver}`}`;
