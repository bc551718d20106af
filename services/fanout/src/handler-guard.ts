import type { Logger } from '@tripwire/logger';
import type { FanoutMetrics } from './fanout-metrics.js';
import { HANDLER_ERROR_LOG_INTERVAL_MS } from './limits.js';

/** Reports an exception caught in the named handler (low-cardinality: `upgrade`, `POST /api/rules`…). */
export type ReportFailure = (handler: string, err: unknown) => void;

/**
 * Every caught handler exception is counted; it is logged at most once per handler per
 * interval, with how many were left out since, so a request that fails on purpose in a loop
 * cannot flood the log.
 */
export function createFailureReporter(
  log: Logger,
  metrics: Pick<FanoutMetrics, 'handlerErrors'>,
  intervalMs = HANDLER_ERROR_LOG_INTERVAL_MS,
): ReportFailure {
  const logLimited = createRateLimitedLog(log, intervalMs);
  return (handler, err) => {
    metrics.handlerErrors.inc({ handler });
    logLimited(
      handler,
      { err, handler },
      'handler failed; the client was answered with an error and the service goes on',
    );
  };
}

/**
 * An error log that writes a given key at most once per interval; the line says how many
 * were left out since the last one (`suppressed`).
 */
export function createRateLimitedLog(log: Logger, intervalMs = HANDLER_ERROR_LOG_INTERVAL_MS) {
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  return (key: string, fields: Record<string, unknown>, message: string) => {
    const now = Date.now();
    const last = lastLogged.get(key);
    if (last && now - last.at < intervalMs) {
      last.suppressed++;
      return;
    }
    log.error({ ...fields, suppressed: last?.suppressed ?? 0 }, message);
    lastLogged.set(key, { at: now, suppressed: 0 });
  };
}

/**
 * `fn` run so that no exception leaves it: uWebSockets.js turns one into a process exit. A
 * failure is reported, then `answer` tells the client (a 500, an error frame, close 1011); if
 * even that throws, the response or socket is already gone and there is no one left to tell.
 */
export function guarded<A extends unknown[]>(
  handler: string,
  report: ReportFailure,
  fn: (...args: A) => void,
  answer: (...args: A) => void = () => {},
): (...args: A) => void {
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      report(handler, err);
      try {
        answer(...args);
      } catch {
        // Aborted response or closed socket: nothing to answer.
      }
    }
  };
}
