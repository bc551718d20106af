import type { HangReport } from '@tripwire/probes';
import type { FanoutSocket } from './socket-state.js';

/** What each hung dependency means for a browser on this node. */
const EFFECTS: Record<HangReport['dependency'], string> = {
  redis:
    'live alerts, incidents and host changes are not arriving; nothing is lost: they follow once Redis answers (or a stream_gap says to reload from /api/alerts)',
  postgres:
    'REST requests that read or write the database may fail with 503 database_timeout; live frames continue',
};

export interface DegradedNotices {
  /** A dependency was declared hung: every open socket gets a `degraded` frame. */
  degraded(report: HangReport): void;
  /** It answers again: every open socket gets a `recovered` frame. */
  recovered(report: HangReport, at: Date): void;
  /** A socket that just got its welcome: a `degraded` frame for each hang in progress. */
  greet(ws: FanoutSocket): void;
}

/**
 * The `degraded` / `recovered` frames (docs/fanout.md): a browser is told when this node
 * cannot use a dependency, and since when, rather than left in silence. Sent to every open
 * socket directly, not on the broadcast topic: a socket still replaying its resume is on no
 * topic yet, and must be told too. Each frame is encoded once for all sockets.
 */
export function createDegradedNotices(
  sockets: ReadonlySet<FanoutSocket>,
  hangs: () => Array<HangReport | undefined>,
): DegradedNotices {
  const sendAll = (frame: string) => {
    for (const ws of sockets) sendTo(ws, frame);
  };
  return {
    degraded: (report) => sendAll(degradedFrame(report)),
    recovered: (report, at) =>
      sendAll(
        JSON.stringify({
          type: 'recovered',
          dependency: report.dependency,
          since: report.since.toISOString(),
          recovered_at: at.toISOString(),
        }),
      ),
    greet(ws) {
      for (const report of hangs()) if (report) sendTo(ws, degradedFrame(report));
    },
  };
}

function degradedFrame(report: HangReport): string {
  return JSON.stringify({
    type: 'degraded',
    dependency: report.dependency,
    since: report.since.toISOString(),
    reason: report.reason,
    effect: EFFECTS[report.dependency],
  });
}

function sendTo(ws: FanoutSocket, frame: string): void {
  if (ws.getUserData().closed) return;
  // Outside a uWebSockets.js handler a send must be corked to go out at once.
  ws.cork(() => ws.send(frame));
}
