// "No request can end a process": every gRPC handler and every callback of a call (data, end,
// error, a live delivery) reports an unexpected exception here instead of letting it reach the
// event loop, where Node would exit. The call gets INTERNAL; the process lives on.
import { status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import { CallError } from './agent-auth.js';
import type { IngestMetrics } from './ingest-metrics.js';

/** One log line per handler per this long at most; the count says how many were not logged. */
const LOG_INTERVAL_MS = 10_000;

/** What a client is told about a bug on our side. */
export const INTERNAL_MESSAGE = 'internal error in the ingest service; it was logged';

/** Exceptions that are bugs in this code, never a database or network failure. */
export const isProgrammingError = (err: unknown): boolean =>
  err instanceof TypeError ||
  err instanceof RangeError ||
  err instanceof ReferenceError ||
  err instanceof SyntaxError ||
  err instanceof EvalError;

export interface HandlerGuard {
  /** Counts an unexpected exception in `handler`, logs it (rate-limited), and returns the status to answer with. */
  caught(handler: string, err: unknown): CallError;
  /** Runs a callback of a call; an exception is `caught` and passed to `onError` (which must not throw). */
  run(handler: string, fn: () => void, onError: (error: CallError) => void): void;
}

export function createHandlerGuard(
  metrics: Pick<IngestMetrics, 'handlerErrors'>,
  log: Logger,
  now = Date.now,
): HandlerGuard {
  const logged = new Map<string, { at: number; suppressed: number }>();

  const caught = (handler: string, err: unknown): CallError => {
    metrics.handlerErrors.inc({ handler });
    const last = logged.get(handler);
    const t = now();
    if (last && t - last.at < LOG_INTERVAL_MS) last.suppressed++;
    else {
      log.error(
        { err, handler, suppressed: last?.suppressed ?? 0 },
        'handler failed unexpectedly; the call was answered INTERNAL',
      );
      logged.set(handler, { at: t, suppressed: 0 });
    }
    return new CallError(status.INTERNAL, INTERNAL_MESSAGE, 'handler_error');
  };

  return {
    caught,
    run(handler, fn, onError) {
      try {
        fn();
      } catch (err) {
        onError(caught(handler, err));
      }
    },
  };
}
