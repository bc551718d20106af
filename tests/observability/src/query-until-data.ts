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

type Result = Array<{ value: [number, string] }> | [number, string] | undefined;

/** Series, and with `numbers` one whose value is a number (a quantile of no traffic is NaN). */
const hasData = (result: Result, numbers: boolean) => {
  if (!Array.isArray(result) || result.length === 0) return false;
  if (!Array.isArray(result[0])) {
    const series = result as Array<{ value: [number, string] }>;
    return !numbers || series.some((s) => !Number.isNaN(Number(s.value[1])));
  }
  return !numbers || !Number.isNaN(Number(result[1]));
};

export async function queryUntilData(
  prometheus: PrometheusServer,
  exprs: readonly string[],
  timeoutMs: number,
  { numbers = false } = {},
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
      else if (!hasData(answer.data?.result as Result, numbers)) still.push(expr);
    });
    pending = still;
    if (pending.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return { errors, empty: pending };
}
