import type { Queryable } from '@tripwire/storage';
import { type BackfillLimits, DatabaseBackfill } from './database-backfill.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { behindSince, type HandOver, handOverSkips, type ResumePlan } from './resume-plan.js';
import { alertIdOf, type ReplayWindow } from './resume-window.js';
import type { FanoutSocket } from './socket-state.js';

/** A socket's resume while PostgreSQL serves it: one page of frames at a time. */
export interface DatabasePhase {
  backfill: DatabaseBackfill;
  handOver: HandOver;
  /** The current page, encoded, and how far the socket has been sent it. */
  frames: string[];
  next: number;
  kind: 'host' | 'incident' | 'alert';
  /** A page query is in flight: nothing to send until it answers. */
  fetching: boolean;
}

export interface DatabasePhaseParts {
  db: Queryable;
  limits: BackfillLimits;
  metrics: FanoutMetrics;
}

/** The socket's replay starts with PostgreSQL; the window takes over at the plan's hand-over. */
export function startDatabasePhase(
  ws: FanoutSocket,
  plan: Extract<ResumePlan, { kind: 'database' }>,
  parts: DatabasePhaseParts,
): void {
  ws.getUserData().replay = {
    cursor: plan.handOver.cursor,
    waitingForDrain: false,
    pausedAtMs: 0,
    database: {
      backfill: new DatabaseBackfill(parts.db, plan.backfill, parts.limits),
      handOver: plan.handOver,
      frames: [],
      next: 0,
      kind: 'alert',
      fetching: false,
    },
  };
}

/**
 * Sends what is left of the current page, at most `maxFrames`, stopping once the socket holds
 * more than `pauseAboveBytes`. 'full': wait for drain; 'more': call again next turn;
 * 'page': the page is sent, fetch the next one.
 */
export function sendPage(
  ws: FanoutSocket,
  phase: DatabasePhase,
  maxFrames: number,
  pauseAboveBytes: number,
  metrics: FanoutMetrics,
): 'full' | 'more' | 'page' {
  let sent = 0;
  let full = false;
  ws.cork(() => {
    while (phase.next < phase.frames.length && sent < maxFrames && !full) {
      ws.send(phase.frames[phase.next]!);
      phase.next++;
      sent++;
      full = ws.getBufferedAmount() > pauseAboveBytes;
    }
  });
  metrics.framesSent.inc(sent);
  metrics.backfillFrames.inc({ kind: phase.kind }, sent);
  if (full) return 'full';
  return phase.next < phase.frames.length ? 'more' : 'page';
}

/**
 * Fetches the next page into the phase; resolves false when the backfill is over. A socket
 * closed meanwhile ends a marks wait (`open`), so a gone browser costs no more reads.
 */
export async function fetchPage(phase: DatabasePhase, open: () => boolean): Promise<boolean> {
  if (phase.backfill.done) return false;
  phase.fetching = true;
  try {
    const page = await phase.backfill.nextPage(open);
    phase.frames = page.frames;
    phase.kind = page.kind;
    phase.next = 0;
    return page.frames.length > 0;
  } finally {
    phase.fetching = false;
  }
}

/**
 * The database is done: from here the window replays from the hand-over point, skipping what
 * the browser has, and the socket goes live only once nothing it must skip can still arrive.
 */
export function handOverToWindow(
  ws: FanoutSocket,
  phase: DatabasePhase,
  replayWindow: ReplayWindow,
): void {
  const replay = ws.getUserData().replay!;
  const { handOver } = phase;
  const { sentIds } = phase.backfill;
  // Sent rows the window already holds up to the hand-over point were published before the
  // resume began: they cannot come again. The others are commits still being published.
  forgetPublished(sentIds, replayWindow, handOver.cursor, phase.backfill.rememberFromMs);
  // A commit is published within the overlap margin, or never (its ingest died): waiting
  // longer for the rest would only delay live frames.
  const pendingUntil = performance.now() + handOver.overlapMs;
  // A node still behind `since` gets as long again as the welcome waited for it, or as a commit
  // takes to be published, whichever is longer; past that (a node stuck, or a crafted offset in
  // a future time) the socket goes live anyway, rather than never.
  const behindUntil = performance.now() + Math.max(handOver.catchUpMs, handOver.overlapMs);
  replay.database = undefined;
  replay.cursor = handOver.cursor;
  replay.skip = (entry) => handOverSkips(entry, handOver, sentIds);
  replay.holdLive = () => {
    const now = performance.now();
    if (sentIds.size > 0 && now < pendingUntil) return true;
    return now < behindUntil && behindSince(replayWindow.latest, handOver);
  };
}

function forgetPublished(
  sentIds: Set<string>,
  replayWindow: ReplayWindow,
  cursor: string | null,
  fromMs: number,
): void {
  if (cursor === null || sentIds.size === 0) return;
  for (const entry of replayWindow.appendedSince(fromMs)) {
    const id = alertIdOf(entry);
    if (id) sentIds.delete(id);
    if (entry.position === cursor) return;
  }
}
