import { ApiError } from './http-route.js';

export interface ExportSlotLimits {
  /** Exports one operator may run at once (EXPORT_CONCURRENCY_PER_OPERATOR). */
  perOperator: number;
  /** Exports this instance runs at once, all operators together (EXPORT_CONCURRENCY_TOTAL). */
  total: number;
}

/**
 * Running exports, counted per operator and in all, on this instance. Each one holds a pool
 * connection (and a snapshot) for as long as its client reads, so without a cap a few
 * operators could take every connection the REST API and WebSocket resumes need.
 */
export function createExportSlots(limits: ExportSlotLimits) {
  const byOperator = new Map<string, number>();
  let running = 0;
  return {
    /** A slot for `operator`, or 429 naming the limit; call the returned release exactly once. */
    take(operator: string): () => void {
      const mine = byOperator.get(operator) ?? 0;
      if (mine >= limits.perOperator)
        throw new ApiError(
          429,
          'too_many_exports',
          `at most ${limits.perOperator} export(s) at once per operator: wait for yours to finish`,
          undefined,
          { retry_after_s: 5 },
        );
      if (running >= limits.total)
        throw new ApiError(
          429,
          'exports_busy',
          `this server runs at most ${limits.total} exports at once; retry shortly`,
          undefined,
          { retry_after_s: 5 },
        );
      byOperator.set(operator, mine + 1);
      running++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        running--;
        const left = (byOperator.get(operator) ?? 1) - 1;
        if (left > 0) byOperator.set(operator, left);
        else byOperator.delete(operator);
      };
    },
    running: () => running,
  };
}
