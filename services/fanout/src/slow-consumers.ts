import {
  CLOSE_SLOW_CONSUMER,
  NATIVE_BACKPRESSURE_FACTOR,
  SLOW_CONSUMER_SWEEP_MS,
  SLOW_CONSUMER_SWEEPS,
} from './limits.js';
import type { FanoutSocket } from './socket-state.js';

/**
 * The native backpressure settings of /ws/alerts. The sweep closes slow sockets at
 * WS_MAX_BACKPRESSURE_BYTES with a distinct code; the native limit sits well above it, and if
 * it is ever reached the socket is closed, never silently skipped.
 */
export function nativeBackpressureLimit(maxBackpressureBytes: number) {
  return {
    maxBackpressure: maxBackpressureBytes * NATIVE_BACKPRESSURE_FACTOR,
    closeOnBackpressureLimit: 1,
  };
}

/**
 * Slow consumers: a socket whose unsent data stays over the limit for two sweeps in a row is
 * closed with its own code, so the browser reconnects and resumes from its last position; a
 * burst that a reader is draining (a replay, a storm) does not count. Nobody else waits for it.
 * A resume replay pauses below that limit (at half of it), so a reader that stops reading
 * mid-replay would never reach it and hold its socket and buffer for good: a replay that has
 * waited for `drain` longer than `replayStallMs` is closed the same way.
 * Returns the function that stops the sweep.
 */
export function startSlowConsumerSweep(
  sockets: Set<FanoutSocket>,
  limits: { maxBackpressureBytes: number; replayStallMs: number },
): () => void {
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const ws of sockets) {
      const state = ws.getUserData();
      state.sweepsOverLimit =
        ws.getBufferedAmount() > limits.maxBackpressureBytes ? state.sweepsOverLimit + 1 : 0;
      const stalled =
        state.replay?.waitingForDrain === true &&
        now - state.replay.pausedAtMs > limits.replayStallMs;
      if (stalled || state.sweepsOverLimit >= SLOW_CONSUMER_SWEEPS) {
        state.closed = true;
        sockets.delete(ws);
        ws.end(CLOSE_SLOW_CONSUMER, 'slow consumer: reconnect and resume');
      }
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  sweep.unref();
  return () => clearInterval(sweep);
}
