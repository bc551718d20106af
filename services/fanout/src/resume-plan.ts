import { epochStartedMs, parsePosition } from '@tripwire/bus';
import { retentionCutoff } from '@tripwire/storage';
import { clipForEcho, quoteForEcho } from '@tripwire/wire';
import { splitResumePosition } from './backfill-cursor.js';
import type { BackfillPlan } from './database-backfill.js';
import { alertIdOf, type ReplayEntry, type ReplayWindow } from './resume-window.js';
import type { SocketState } from './socket-state.js';
import { filterMatches } from './subscription-filter.js';

/** Where a resume is served from (docs/fanout.md). `bus` (Redis history) is not used by this node yet. */
export type ResumeSource = 'memory' | 'bus' | 'database';

export type Resume =
  | { since: string; status: 'replayed'; source: ResumeSource; count?: number }
  | { since: string; status: 'unavailable'; reason: string; oldest_position: string | null };

export interface ResumeSettings {
  /** WS_BACKFILL_OVERLAP_MS: how far before since's time the database backfill starts. */
  overlapMs: number;
  /** ALERT_RETENTION_MONTHS (0: alerts are kept forever). */
  retentionMonths: number;
  /** WS_RESUME_CATCH_UP_MS: how long a resume waits for a node behind its `since`, each time it must. */
  catchUpMs: number;
}

/** How one resume goes on: from the window, from PostgreSQL then the window, or not at all. */
export type ResumePlan =
  | { kind: 'unavailable'; resume: Resume }
  | { kind: 'memory'; resume: Resume }
  /** The node has not read up to `since` yet (same stream, same epoch): wait for it (bounded). */
  | { kind: 'behind' }
  | { kind: 'database'; resume: Resume; backfill: BackfillPlan; handOver: HandOver };

/**
 * Where the window takes over from the database: after `cursor` (the window's newest entry
 * when the resume began; null: the window was empty, so from its first entry), skipping
 * entries at or before `since` when the node knows they are (same epoch) and the alert ids
 * the database already sent.
 */
export interface HandOver {
  cursor: string | null;
  /** `since`'s offset, when the window's entries are comparable with it (same epoch); else null. */
  skipThrough: bigint | null;
  since: string;
  /** WS_BACKFILL_OVERLAP_MS: ids sent from the database are forgotten once the window is this far past its last row. */
  overlapMs: number;
  /** WS_RESUME_CATCH_UP_MS: with overlapMs, how long the socket waits after the database for the window to reach `since`. */
  catchUpMs: number;
}

/** Decides how the resume from `state.since` is served, or why it cannot be. */
export function planResume(
  state: SocketState,
  replayWindow: ReplayWindow,
  settings: ResumeSettings,
  waitedForCatchUp = false,
): ResumePlan {
  // What the welcome echoes (clipped: the query string can hold kilobytes).
  const since = clipForEcho(state.since!);
  // A position from a backfill frame goes on with that backfill, after its last row.
  const split = splitResumePosition(state.since!);
  const raw = split?.since ?? state.since!;
  const unavailable = (reason: string, oldest = replayWindow.oldest): ResumePlan => ({
    kind: 'unavailable',
    resume: { since, status: 'unavailable', reason, oldest_position: oldest },
  });
  if (state.resumeRefused) return unavailable('rate_limited');
  const sinceMs = positionMs(raw);
  if (sinceMs === null || split === null) {
    return unavailable(`${quoteForEcho(raw)} is not a stream position (expected "<ms>-<offset>")`);
  }
  const cutoff = retentionCutoff(new Date(), settings.retentionMonths);
  if (cutoff && sinceMs < cutoff.getTime()) {
    return unavailable(
      `position ${quoteForEcho(raw)} is older than alert retention (kept from ${cutoff.toISOString()})`,
    );
  }
  const result = split.after ? ({ ok: false } as const) : replayWindow.replaySince(raw);
  if (result.ok) {
    const latest = replayWindow.latest;
    if (latest === null || offsetOf(raw) <= offsetOf(latest)) {
      let count = 0;
      // One pass over the window in this tick (at most HISTORY_MAX_ENTRIES filter checks, a resume
      // rate limited per operator): `count` is in the welcome, sent before the first slice.
      for (const e of result.entries) if (matchesSocket(e, state)) count++;
      return { kind: 'memory', resume: { since, status: 'replayed', source: 'memory', count } };
    }
    // Within an epoch a later offset never has an earlier time: a `since` past the newest entry
    // but older than it was never issued by this stream. Refused at once rather than waited for.
    if (sinceMs < Number(parsePosition(latest).ms)) {
      return unavailable(
        `position ${quoteForEcho(raw)} was never issued by this stream: the newest entry has a later time but a lower offset (${offsetOf(latest)})`,
      );
    }
    if (!waitedForCatchUp) return { kind: 'behind' };
  }
  // Behind even after waiting (same epoch: the window's entries up to `since` are ones the
  // browser had), or the window cannot serve `since` at all (older, cleared, another epoch).
  const behind = result.ok;
  const fromMs = sinceMs - settings.overlapMs;
  const handOverCursor = newEpochWhole(replayWindow, raw)
    ? null
    : handOverPoint(replayWindow, split.handOver);
  const rememberFromMs =
    handOverCursor === null ? 0 : Number(parsePosition(handOverCursor).ms) - settings.overlapMs;
  return {
    kind: 'database',
    resume: { since, status: 'replayed', source: 'database' },
    backfill: {
      since: raw,
      resumedFrom: state.since!,
      after: split.after,
      fromMs,
      // The window's entries up to `since` (when behind), or those a clear retired (after a reset
      // or a gap): alerts the browser had, never sent again.
      knownIds: replayWindow.knownAlertIds(raw, fromMs),
      rememberFromMs,
      handOver: handOverCursor,
      overlapMs: settings.overlapMs,
      heldAfter: (fromMs) => replayWindow.heldAfter(fromMs, handOverCursor),
      subscriptions: [...state.subscriptions.values()],
    },
    handOver: {
      cursor: handOverCursor,
      skipThrough: behind ? offsetOf(raw) : null,
      since: raw,
      overlapMs: settings.overlapMs,
      catchUpMs: settings.catchUpMs,
    },
  };
}

/**
 * Whether `since` is from an older epoch and the window holds its own epoch from its first
 * message: then every entry of it is one the browser never had, however long before `since` it
 * was stored (an ingest's backlog held it through the outage longer than the overlap margin, or
 * the sweep republished it there), so the window replays the whole epoch after the backfill
 * (hand-over before its first entry), skipping what the backfill sent. Handing over at the
 * window's newest entry instead, those entries were neither in the backfill's time range nor
 * after the hand-over: a crowded node's `pnpm chaos` missed 12,740 of them on one client.
 */
function newEpochWhole(replayWindow: ReplayWindow, since: string): boolean {
  const { oldest, latest } = replayWindow;
  if (oldest === null || latest === null || epochOf(oldest) !== epochOf(latest)) return false;
  if (offsetOf(oldest) !== 1n) return false;
  // Older by when Redis began each (a node still on the old epoch is not replayed whole).
  const began = (epoch: string) => (epoch === '' ? null : epochStartedMs(epoch));
  const sinceBegan = began(epochOf(since));
  const windowBegan = began(epochOf(latest));
  return sinceBegan !== null && windowBegan !== null && sinceBegan < windowBegan;
}

/**
 * Where the window replay takes over: the window's newest entry now, or, for a browser cut off
 * mid-backfill, the entry that backfill handed over after (its frames say which) while the
 * window can still replay from it. The rows that backfill left to the window (published after
 * that entry) are then replayed by this one, not lost between two hand-over points.
 */
function handOverPoint(replayWindow: ReplayWindow, earlier: string | null): string | null {
  const latest = replayWindow.latest;
  if (earlier === null || latest === null || epochOf(earlier) !== epochOf(latest)) return latest;
  // Not one this node has yet to read (behind), nor one trimmed from the window.
  if (offsetOf(earlier) > offsetOf(latest) || !replayWindow.replaySince(earlier).ok) return latest;
  return earlier;
}

/** A position's time in ms, or null when it is not a position this service could have issued. */
function positionMs(position: string): number | null {
  try {
    const ms = Number(parsePosition(position).ms);
    // Beyond year 2255 a position is not a Redis time, and its µs would not be exact in a double.
    return ms <= 9e12 ? ms : null;
  } catch {
    return null;
  }
}

const offsetOf = (position: string) => parsePosition(position).offset;

/** The epoch part of a position ("<epoch>:<ms>-<offset>"), '' for one without. */
const epochOf = (position: string) => {
  const colon = position.lastIndexOf(':');
  return colon < 0 ? '' : position.slice(0, colon);
};

/**
 * Whether the window replay after a database backfill skips this entry: the browser had it
 * (at or before `since`, same epoch), or the database sent it already.
 */
export function handOverSkips(
  entry: ReplayEntry,
  handOver: HandOver,
  sentIds: Set<string>,
): boolean {
  if (
    handOver.skipThrough !== null &&
    epochOf(entry.position) === epochOf(handOver.since) &&
    entry.offset <= handOver.skipThrough
  ) {
    return true;
  }
  if (sentIds.size === 0) return false;
  const id = alertIdOf(entry);
  // Each id is published once after the hand-over: forget it once skipped.
  return id !== null && sentIds.delete(id);
}

/**
 * The window has not reached `since` yet, in `since`'s epoch: entries up to it are still to come.
 * Not once the window holds an entry appended after `since`'s time (a later time never has an
 * earlier offset: such a `since` was never issued, and nothing more up to it will come).
 */
export function behindSince(latest: string | null, handOver: HandOver): boolean {
  if (handOver.skipThrough === null || latest === null) return false;
  if (epochOf(latest) !== epochOf(handOver.since)) return false;
  const newest = parsePosition(latest);
  return newest.offset < handOver.skipThrough && newest.ms <= parsePosition(handOver.since).ms;
}

/** Frames without a subject (host changes) go to every socket; the others by its filters. */
export function matchesSocket(entry: ReplayEntry, state: SocketState): boolean {
  if (!entry.subject) return true;
  for (const f of state.subscriptions.values()) if (filterMatches(f, entry.subject)) return true;
  return false;
}
