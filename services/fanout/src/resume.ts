import type { FanoutMetrics } from './fanout-metrics.js';
import type { ReplayEntry, ReplayWindow } from './resume-window.js';
import {
  BROADCAST_TOPIC,
  type FanoutSocket,
  retopic,
  type Sender,
  type SocketState,
} from './socket-state.js';
import { filterMatches } from './subscription-filter.js';
import type { TopicRouter } from './topic-router.js';

type Resume =
  | { since: string; status: 'replayed'; count: number }
  | { since: string; status: 'unavailable'; reason: string; oldest_position: string | null };

/**
 * A new socket's first frames: the welcome, the replay of what it missed
 * since its `since` position (only what its subscriptions let through), then
 * live. Call it corked.
 */
export function createGreeter(parts: {
  replayWindow: ReplayWindow;
  router: TopicRouter;
  metrics: FanoutMetrics;
  sender: Sender;
}): (ws: FanoutSocket) => void {
  const { replayWindow, router, metrics, sender } = parts;
  return (ws) => {
    const state = ws.getUserData();
    const { resume, replay } = state.since
      ? resumeFrom(state.since, state, replayWindow)
      : { resume: undefined, replay: [] };
    if (resume) metrics.resumes.inc({ outcome: resume.status });
    sender.send(ws, {
      type: 'welcome',
      session_id: state.sessionId,
      server_time: new Date().toISOString(),
      position: replayWindow.latest,
      operator: { name: state.operator.name, role: state.operator.role },
      subscriptions: subscriptionList(state),
      ...(resume ? { resume } : {}),
    });
    if (resume?.status === 'unavailable') {
      sender.sendError(
        ws,
        'resume_unavailable',
        `could not recover from ${resume.since}: ${resume.reason}; reload from /api/alerts`,
      );
    }
    for (const e of replay) ws.send(e.frame);
    metrics.framesSent.inc(replay.length);
    // Same tick as the replay: nothing can slip in between replay and live.
    ws.subscribe(BROADCAST_TOPIC);
    retopic(ws, router);
  };
}

/** What the window holds after `since` for this socket's subscriptions, or why it cannot say. */
function resumeFrom(
  since: string,
  state: SocketState,
  replayWindow: ReplayWindow,
): { resume: Resume; replay: ReplayEntry[] } {
  const result = replayWindow.replaySince(since);
  if (!result.ok) {
    const resume = {
      since,
      status: 'unavailable' as const,
      reason: result.reason,
      oldest_position: result.oldest,
    };
    return { resume, replay: [] };
  }
  const filters = [...state.subscriptions.values()];
  const replay = result.entries.filter(
    (e) => !e.subject || filters.some((f) => filterMatches(f, e.subject!)),
  );
  return { resume: { since, status: 'replayed', count: replay.length }, replay };
}

function subscriptionList(state: SocketState) {
  return [...state.subscriptions].map(([subscription_id, filters]) => ({
    subscription_id,
    filters,
  }));
}
