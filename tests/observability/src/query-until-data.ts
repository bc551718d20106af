// Asks Prometheus every expression until each returns series (or a deadline passes), so a test
// waits on the data itself, never on a fixed time.
import type { PrometheusServer } from './prometheus-server.js';

export interface QueryOutcome {
  /** Expressions Prometheus refused, with its error. */
  errors: string[];
  /** Expressions that evaluated but never returned a series before the deadline. */
  empty: string[];
}

const POLL_MS = 250;

const hasSeries = (result: unknown) => (Array.isArray(result) ? result.length > 0 : result != null);

export async function queryUntilData(
  prometheus: PrometheusServer,
  exprs: readonly string[],
  timeoutMs: number,
): Promise<QueryOutcome> {
  const deadline = Date.now() + timeoutMs;
  const errors: string[] = [];
  let pending = [...new Set(exprs)];
  while (pending.length > 0) {
    const answers = await Promise.all(pending.map((e) => prometheus.query(e)));
    const still: string[] = [];
    answers.forEach((answer, i) => {
      const expr = pending[i]!;
      if (answer.status !== 'success') errors.push(`${expr}: ${answer.error}`);
      else if (!hasSeries(answer.data?.result)) still.push(expr);
    });
    pending = still;
    if (pending.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return { errors, empty: pending };
}
