// The ingest cost of alert search's trigram index (migration 0015), for ingest-bench.ts: the
// same load through the same ingest process, alternately with the index and without it
// (dropped, then created again on the emptied table), so both sides see the same machine.
import type { Pool } from '@tripwire/storage';

const INDEX_SQL =
  'CREATE INDEX IF NOT EXISTS alerts_search_trgm_idx ON alerts USING gin (alert_search_text(rule_name, event_detail) gin_trgm_ops)';

export interface IndexRun {
  count: number;
  seconds: number;
  p50: number;
}

/**
 * `rounds` pairs of runs (with, without), the table emptied before each. Returns the printed
 * lines: alerts/s and ack latency each way, and the ratio of the medians.
 */
export async function searchIndexCost(
  pool: Pool,
  run: () => Promise<IndexRun>,
  reset: () => Promise<unknown>,
  rounds: number,
): Promise<string[]> {
  const rates: Record<'with' | 'without', number[]> = { with: [], without: [] };
  const p50s: Record<'with' | 'without', number[]> = { with: [], without: [] };
  for (let i = 0; i < rounds; i++) {
    for (const side of ['with', 'without'] as const) {
      await reset();
      await pool.query(side === 'with' ? INDEX_SQL : 'DROP INDEX IF EXISTS alerts_search_trgm_idx');
      const r = await run();
      rates[side].push(r.count / r.seconds);
      p50s[side].push(r.p50);
    }
  }
  await pool.query(INDEX_SQL);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const line = (side: 'with' | 'without') =>
    `  ${`${side} search index`.padEnd(34)} ${fmt(median(rates[side])).padStart(10)} alerts/s  ` +
    `(runs: ${rates[side].map(fmt).join(', ')}; ack p50 ${median(p50s[side]).toFixed(1)} ms)`;
  return [
    line('with'),
    line('without'),
    `  search index costs ${((1 - median(rates.with) / median(rates.without)) * 100).toFixed(0)}% of ingest throughput (medians)`,
  ];
}
