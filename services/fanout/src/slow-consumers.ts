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
 * Returns the function that stops the sweep.
 */
export function startSlowConsumerSweep(
  sockets: Set<FanoutSocket>,
  maxBackpressureBytes: number,
): () => void {
  const sweep = setInterval(() => {
    for (const ws of sockets) {
      const state = ws.getUserData();
      state.sweepsOverLimit =
        ws.getBufferedAmount() > maxBackpressureBytes ? state.sweepsOverLimit + 1 : 0;
      if (state.sweepsOverLimit >= SLOW_CONSUMER_SWEEPS) {
        state.closed = true;
        sockets.delete(ws);
        ws.end(CLOSE_SLOW_CONSUMER, 'slow consumer: reconnect and resume');
      }
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  sweep.unref();
  return () => clearInterval(sweep);
}
