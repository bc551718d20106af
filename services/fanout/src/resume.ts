import type { Queryable } from '@tripwire/storage';
import {
  type DatabasePhase,
  fetchPage,
  handOverToWindow,
  sendPage,
  startDatabasePhase,
} from './database-phase.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import { RESUME_CATCH_UP_POLL_MS } from './limits.js';
import { matchesSocket, planResume, type ResumePlan, type ResumeSettings } from './resume-plan.js';
import type { ReplayWindow } from './resume-window.js';
import {
  answerBrokenSocket,
  type FanoutSocket,
  goLive,
  retopic,
  type Sender,
  type SocketState,
} from './socket-state.js';
import type { TopicRouter } from './topic-router.js';

export interface GreeterParts {
  replayWindow: ReplayWindow;
  router: TopicRouter;
  metrics: FanoutMetrics;
  sender: Sender;
  /** WS_REPLAY_SLICE_FRAMES: window entries looked at (or database rows read) per turn of the event loop. */
  sliceEntries: number;
  /** The socket's unsent bytes above which the replay waits for `drain`. */
  pauseAboveBytes: number;
  /** WS_RESUMES_PER_MINUTE, for the message of a refused resume. */
  resumesPerMinute: number;
  report: ReportFailure;
  /** PostgreSQL, for resumes the window cannot serve. */
  db: Queryable;
  settings: ResumeSettings;
  /** WS_BACKFILL_MAX_ALERTS. */
  backfillMaxAlerts: number;
  /** A database backfill failed (PostgreSQL unreachable, statement timeout): logged, rate limited. */
  onBackfillError: (err: unknown) => void;
}

export interface Greeter {
  /** A new socket's welcome, then its replay (if it resumes), then live. Call it corked. */
  greet(ws: FanoutSocket): void;
  /** The socket drained: a replay that paused for it goes on. */
  onDrain(ws: FanoutSocket): void;
}

/**
 * A new socket's first frames: the welcome, the replay of what it missed since its `since`
 * position (only what its subscriptions let through), then live.
 *
 * The replay is sent in slices of at most `sliceEntries` window entries (or database rows),
 * one slice per turn of the event loop, a slice ending early once the socket holds more than
 * `pauseAboveBytes` unsent; the replay then waits for uWebSockets.js's `drain`, so a
 * 50,000-frame resume neither blocks the loop nor floods a slow reader. Exactly once, in
 * order, without a per-socket buffer: until the replay ends the socket is subscribed to no
 * topic, and a frame published meanwhile is added to the replay window (bus-delivery.ts does
 * that before publishing it), where the replay's cursor reaches it. The slice that finds
 * nothing after the cursor subscribes the socket to its topics in the same tick, so no frame
 * can be published between the last one replayed and the first one received live. If the
 * window loses the cursor (trimmed past it, or cleared by a stream gap), the socket is told
 * `stream_gap` and goes live: it must reload, as after any gap.
 *
 * When the window cannot serve `since`, PostgreSQL does first (resume-plan.ts,
 * database-backfill.ts): everything stored since `since`'s time up to the window's newest
 * entry at the start, then the window from that entry on, skipping what the database sent.
 */
export function createGreeter(parts: GreeterParts): Greeter {
  const { replayWindow, metrics, sender } = parts;
  const pause = (state: SocketState) => {
    state.replay!.waitingForDrain = true;
    state.replay!.pausedAtMs = performance.now();
    metrics.replayPauses.inc();
  };
  const sliceWindow = (ws: FanoutSocket) => {
    const state = ws.getUserData();
    const replay = state.replay!;
    const result =
      replay.cursor === null
        ? { ok: true as const, entries: replayWindow.appendedSince(0, parts.sliceEntries) }
        : replayWindow.replaySince(replay.cursor, parts.sliceEntries);
    if (!result.ok) {
      sender.sendError(
        ws,
        'stream_gap',
        `the replay could not go on (${result.reason}); reload from /api/alerts`,
      );
      goLive(ws);
      return;
    }
    let sent = 0;
    let full = false;
    ws.cork(() => {
      for (const e of result.entries) {
        replay.cursor = e.position;
        if (!matchesSocket(e, state) || replay.skip?.(e)) continue;
        ws.send(e.frame);
        sent++;
        // Bounded in bytes too: a slice of large frames stops once the socket holds enough.
        full = ws.getBufferedAmount() > parts.pauseAboveBytes;
        if (full) break;
      }
    });
    metrics.framesSent.inc(sent);
    if (full) {
      pause(state);
    } else if (result.entries.length < parts.sliceEntries) {
      // Nothing after the cursor: live from this same tick, unless frames the replay must
      // skip may still come (resume-plan.ts, holdLive); then look again shortly.
      if (replay.holdLive?.()) setTimeout(() => guardedSlice(ws), RESUME_CATCH_UP_POLL_MS);
      else goLive(ws);
    } else {
      setImmediate(() => guardedSlice(ws));
    }
  };
  const finishDatabase = (ws: FanoutSocket, phase: DatabasePhase, failure?: unknown) => {
    const { since } = phase.handOver;
    if (failure !== undefined || phase.backfill.limitReached) {
      const reason = failure !== undefined ? 'query_failed' : 'limit';
      metrics.backfillAborts.inc({ reason });
      if (failure !== undefined) parts.onBackfillError(failure);
      sender.sendError(
        ws,
        'stream_gap',
        failure !== undefined
          ? `PostgreSQL failed while backfilling from ${since}; reload from /api/alerts`
          : `more than ${parts.backfillMaxAlerts} alerts since ${since}; reload from /api/alerts`,
      );
    }
    handOverToWindow(ws, phase, replayWindow);
    sliceWindow(ws);
  };
  const sliceDatabase = (ws: FanoutSocket, phase: DatabasePhase) => {
    if (phase.fetching) return;
    const sent = sendPage(ws, phase, parts.sliceEntries, parts.pauseAboveBytes, metrics);
    if (sent === 'full') return pause(ws.getUserData());
    if (sent === 'more') return void setImmediate(() => guardedSlice(ws));
    if (phase.backfill.done) return finishDatabase(ws, phase);
    fetchPage(phase, () => !ws.getUserData().closed).then(
      () => guardedSlice(ws),
      (err: unknown) => guardedFinish(ws, phase, err),
    );
  };
  const slice = (ws: FanoutSocket) => {
    const state = ws.getUserData();
    if (state.closed || !state.replay) return;
    const { database } = state.replay;
    if (database) sliceDatabase(ws, database);
    else sliceWindow(ws);
  };
  const broken = (ws: FanoutSocket) => answerBrokenSocket(ws, sender, true);
  // Later slices run outside any uWebSockets.js handler: guarded, and only if still open.
  const guardedSlice = guarded('replay', parts.report, (ws: FanoutSocket) => slice(ws), broken);
  const guardedFinish = guarded(
    'replay',
    parts.report,
    (ws: FanoutSocket, phase: DatabasePhase, err: unknown) => {
      if (!ws.getUserData().closed) ws.cork(() => finishDatabase(ws, phase, err));
    },
    broken,
  );
  const begin = (ws: FanoutSocket, plan: ResumePlan | null, routed: boolean) => {
    sendWelcome(ws, plan, routed, parts);
    if (plan?.kind === 'memory') {
      const state = ws.getUserData();
      state.replay = { cursor: state.since!, waitingForDrain: false, pausedAtMs: 0 };
      slice(ws);
    } else if (plan?.kind === 'database') {
      const limits = { pageRows: parts.sliceEntries, maxAlerts: parts.backfillMaxAlerts };
      startDatabasePhase(ws, plan, { db: parts.db, limits, metrics });
      slice(ws);
    } else {
      goLive(ws);
    }
  };
  // A node behind the browser's `since` (same stream, not read that far yet) waits for it,
  // bounded: never sending live frames at or before `since` again.
  const awaitCatchUp = (ws: FanoutSocket, routed: boolean) => {
    metrics.catchUpWaits.inc();
    const deadline = performance.now() + parts.settings.catchUpMs;
    const check = guarded(
      'resume',
      parts.report,
      () => {
        const state = ws.getUserData();
        if (state.closed) return;
        const plan = planResume(state, replayWindow, parts.settings, performance.now() >= deadline);
        if (plan.kind === 'behind') setTimeout(check, RESUME_CATCH_UP_POLL_MS);
        else ws.cork(() => begin(ws, plan, routed));
      },
      () => broken(ws),
    );
    check();
  };
  return {
    greet(ws) {
      const state = ws.getUserData();
      const routed = retopic(ws, parts.router);
      if (!routed) state.subscriptions.clear();
      const plan = state.since ? planResume(state, replayWindow, parts.settings) : null;
      if (plan?.kind === 'behind') awaitCatchUp(ws, routed);
      else begin(ws, plan, routed);
    },
    onDrain(ws) {
      const replay = ws.getUserData().replay;
      if (!replay?.waitingForDrain || ws.getBufferedAmount() > parts.pauseAboveBytes) return;
      replay.waitingForDrain = false;
      slice(ws);
    },
  };
}

/** The welcome (with the resume's outcome), and the errors that go with it. */
function sendWelcome(
  ws: FanoutSocket,
  plan: ResumePlan | null,
  routed: boolean,
  parts: GreeterParts,
) {
  const { metrics, sender } = parts;
  const state = ws.getUserData();
  const resume = plan && plan.kind !== 'behind' ? plan.resume : undefined;
  if (plan && plan.kind !== 'behind') {
    const outcome =
      plan.kind === 'unavailable'
        ? state.resumeRefused
          ? 'rate_limited'
          : 'unavailable'
        : plan.kind === 'memory'
          ? 'replayed'
          : 'database';
    metrics.resumes.inc({ outcome });
    if (outcome === 'rate_limited') metrics.limitsHit.inc({ limit: 'resumes_per_operator' });
  }
  sender.send(ws, {
    type: 'welcome',
    session_id: state.sessionId,
    server_time: new Date().toISOString(),
    position: parts.replayWindow.latest,
    operator: { name: state.operator.name, role: state.operator.role },
    subscriptions: subscriptionList(state),
    ...(resume ? { resume } : {}),
  });
  if (!routed) {
    metrics.limitsHit.inc({ limit: 'topics' });
    sender.sendError(
      ws,
      'too_many_topics',
      'this node serves as many distinct filters as it may; subscribe with a filter already in use, or connect later',
    );
  }
  if (resume?.status === 'unavailable') {
    const why =
      resume.reason === 'rate_limited'
        ? `more than ${parts.resumesPerMinute} resumes a minute by this operator`
        : resume.reason;
    sender.sendError(
      ws,
      'resume_unavailable',
      `could not recover from ${resume.since}: ${why}; reload from /api/alerts`,
    );
  }
}

function subscriptionList(state: SocketState) {
  return [...state.subscriptions].map(([subscription_id, filters]) => ({
    subscription_id,
    filters,
  }));
}
