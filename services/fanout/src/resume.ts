import { clipForEcho } from '@tripwire/wire';
import type { FanoutMetrics } from './fanout-metrics.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import type { ReplayEntry, ReplayWindow } from './resume-window.js';
import {
  answerBrokenSocket,
  type FanoutSocket,
  goLive,
  retopic,
  type Sender,
  type SocketState,
} from './socket-state.js';
import { filterMatches } from './subscription-filter.js';
import type { TopicRouter } from './topic-router.js';

type Resume =
  | { since: string; status: 'replayed'; count: number }
  | { since: string; status: 'unavailable'; reason: string; oldest_position: string | null };

export interface GreeterParts {
  replayWindow: ReplayWindow;
  router: TopicRouter;
  metrics: FanoutMetrics;
  sender: Sender;
  /** WS_REPLAY_SLICE_FRAMES: window entries looked at per turn of the event loop. */
  sliceEntries: number;
  /** The socket's unsent bytes above which the replay waits for `drain`. */
  pauseAboveBytes: number;
  /** WS_RESUMES_PER_MINUTE, for the message of a refused resume. */
  resumesPerMinute: number;
  report: ReportFailure;
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
 * The replay is sent in slices of at most `sliceEntries` window entries, one slice per turn
 * of the event loop, a slice ending early once the socket holds more than `pauseAboveBytes`
 * unsent; the replay then waits for uWebSockets.js's `drain`, so a 50,000-frame resume neither blocks the loop nor floods a
 * slow reader. Exactly once, in order, without a per-socket buffer: until the replay ends the
 * socket is subscribed to no topic, and a frame published meanwhile is added to the replay
 * window (bus-delivery.ts does that before publishing it), where the replay's cursor reaches
 * it. The slice that finds nothing after the cursor subscribes the socket to its topics in
 * the same tick, so no frame can be published between the last one replayed and the first
 * one received live. If the window loses the cursor (trimmed past it, or cleared by a stream
 * gap), the socket is told `stream_gap` and goes live: it must reload, as after any gap.
 */
export function createGreeter(parts: GreeterParts): Greeter {
  const { replayWindow, router, metrics, sender } = parts;
  const slice = (ws: FanoutSocket) => {
    const state = ws.getUserData();
    if (state.closed || !state.replay) return;
    const result = replayWindow.replaySince(state.replay.cursor, parts.sliceEntries);
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
        state.replay!.cursor = e.position;
        if (!matches(e, state)) continue;
        ws.send(e.frame);
        sent++;
        // Bounded in bytes too: a slice of large frames stops once the socket holds enough.
        full = ws.getBufferedAmount() > parts.pauseAboveBytes;
        if (full) break;
      }
    });
    metrics.framesSent.inc(sent);
    if (full) {
      state.replay.waitingForDrain = true;
      state.replay.pausedAtMs = performance.now();
      metrics.replayPauses.inc();
    } else if (result.entries.length < parts.sliceEntries) {
      // Nothing after the cursor: live from this same tick.
      goLive(ws);
    } else {
      setImmediate(() => guardedSlice(ws));
    }
  };
  // Later slices run outside any uWebSockets.js handler: guarded, and only if still open.
  const guardedSlice = guarded(
    'replay',
    parts.report,
    (ws: FanoutSocket) => {
      if (!ws.getUserData().closed) slice(ws);
    },
    (ws) => answerBrokenSocket(ws, sender, true),
  );
  return {
    greet(ws) {
      const state = ws.getUserData();
      const routed = retopic(ws, router);
      if (!routed) state.subscriptions.clear();
      const resume = state.since ? startResume(state, parts) : undefined;
      sender.send(ws, {
        type: 'welcome',
        session_id: state.sessionId,
        server_time: new Date().toISOString(),
        position: replayWindow.latest,
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
      if (resume?.status === 'replayed') {
        state.replay = { cursor: state.since!, waitingForDrain: false, pausedAtMs: 0 };
        slice(ws);
      } else {
        goLive(ws);
      }
    },
    onDrain(ws) {
      const replay = ws.getUserData().replay;
      if (!replay?.waitingForDrain || ws.getBufferedAmount() > parts.pauseAboveBytes) return;
      replay.waitingForDrain = false;
      slice(ws);
    },
  };
}

/** Whether the window can replay from `since` for this socket, and how many frames it holds for it. */
function startResume(state: SocketState, parts: GreeterParts): Resume {
  // What the welcome echoes (clipped: the query string can hold kilobytes); the replay parses state.since.
  const since = clipForEcho(state.since!);
  const { replayWindow, metrics } = parts;
  if (state.resumeRefused) {
    metrics.resumes.inc({ outcome: 'rate_limited' });
    metrics.limitsHit.inc({ limit: 'resumes_per_operator' });
    return {
      since,
      status: 'unavailable',
      reason: 'rate_limited',
      oldest_position: replayWindow.oldest,
    };
  }
  const result = replayWindow.replaySince(state.since!);
  if (!result.ok) {
    metrics.resumes.inc({ outcome: 'unavailable' });
    return { since, status: 'unavailable', reason: result.reason, oldest_position: result.oldest };
  }
  metrics.resumes.inc({ outcome: 'replayed' });
  // One pass over the window in this tick (at most HISTORY_MAX_ENTRIES filter checks, a resume
  // rate limited per operator): `count` is in the welcome, sent before the first slice
  // (docs/fanout.md), so it cannot be summed up by the slices without changing that frame.
  let count = 0;
  for (const e of result.entries) if (matches(e, state)) count++;
  return { since, status: 'replayed', count };
}

/** Frames without a subject (host changes) go to every socket; the others by its filters. */
function matches(entry: ReplayEntry, state: SocketState): boolean {
  if (!entry.subject) return true;
  for (const f of state.subscriptions.values()) if (filterMatches(f, entry.subject)) return true;
  return false;
}

function subscriptionList(state: SocketState) {
  return [...state.subscriptions].map(([subscription_id, filters]) => ({
    subscription_id,
    filters,
  }));
}
