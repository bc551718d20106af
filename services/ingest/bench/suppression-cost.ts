// Part of pnpm bench:ingest: the ingest rate with 0, 10 and 1,000 suppressions in force, side
// by side in one run (docs/suppressions.md, BENCHMARKS.md). Each count gets a fresh ingest
// process (which loads them at start) and the same load. The suppressions are the costly kind:
// half name the benchmark's rule and look into event_detail (so every alert is parsed and
// compared with each of them), half match any rule on another host; one mutes 1% of the alerts,
// so the suppressed path (stored without incident, hits counted) runs too.
//   BENCH_SUPPRESSION_ALERTS (40000)  BENCH_SUPPRESSION_AGENTS (4)

import { randomUUID } from 'node:crypto';
import type { Pool } from '@tripwire/storage';
import type { AgentsRun, IngestProcess, Load } from './ingest-harness.js';

interface Deps {
  pool: Pool;
  startIngest: () => Promise<IngestProcess>;
  runAgents: (ingest: IngestProcess, load: Load) => Promise<AgentsRun>;
  /** The benchmark's rule name and the detail path value 1% of its alerts carry. */
  ruleName: string;
  mutedPath: string;
}

const COUNTS = [0, 10, 1_000];

async function install(pool: Pool, n: number, { ruleName, mutedPath }: Deps) {
  await pool.query('TRUNCATE suppressions, suppression_hits');
  const rows = Array.from({ length: n }, (_, i) => {
    if (i === 0) return [null, ruleName, [{ path: ['path'], op: 'equals', value: mutedPath }]];
    if (i % 2) return [null, ruleName, [{ path: ['path'], op: 'prefix', value: `/nowhere/${i}/` }]];
    return [randomUUID(), null, []];
  });
  for (const [hostId, rule, detail] of rows)
    await pool.query(
      `INSERT INTO suppressions (host_id, rule_name, detail, justification, created_by)
       VALUES ($1, $2, $3::jsonb, 'benchmark', 'bench')`,
      [hostId, rule, JSON.stringify(detail)],
    );
}

export async function measureSuppressionCost(deps: Deps): Promise<void> {
  const alerts = Number(process.env.BENCH_SUPPRESSION_ALERTS ?? 40_000);
  const agents = Number(process.env.BENCH_SUPPRESSION_AGENTS ?? 4);
  const results: Array<{ n: number; rate: number; p99: number; muted: number; cpuUs: number }> = [];
  // The ingest process's CPU seconds: on a shared machine, CPU per alert varies far less than
  // the wall-clock rate.
  const cpuSeconds = async (httpUrl: string) => {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    return Number(/^process_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
  };
  for (const n of COUNTS) {
    await install(deps.pool, n, deps);
    const ingest = await deps.startIngest();
    try {
      const cpuBefore = await cpuSeconds(ingest.httpUrl);
      const r = await deps.runAgents(ingest, { agents, alerts, batch: 100, window: 2_000 });
      const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
      const muted = Number(/^tripwire_ingest_alerts_suppressed_total (\S+)$/m.exec(metrics)?.[1]);
      const cpuUs = (((await cpuSeconds(ingest.httpUrl)) - cpuBefore) * 1e6) / r.count;
      results.push({ n, rate: r.count / r.seconds, p99: r.p99, muted, cpuUs });
    } finally {
      await ingest.stop();
    }
  }
  const base = results[0]!.rate;
  console.log(
    `\n  ingest with suppressions in force (${agents} agents, ${alerts} alerts each run):`,
  );
  const baseCpu = results[0]!.cpuUs;
  for (const { n, rate, p99, muted, cpuUs } of results)
    console.log(
      `    ${String(n).padStart(5)} suppressions ${Math.round(rate).toLocaleString('en-US').padStart(8)} alerts/s` +
        `  ${(rate / base).toFixed(2)}x of none  ingest CPU ${cpuUs.toFixed(1)} µs/alert (+${(cpuUs - baseCpu).toFixed(1)})` +
        `  ack p99 ${p99.toFixed(1)} ms  ${muted.toLocaleString('en-US')} muted`,
    );
  await deps.pool.query('TRUNCATE suppressions, suppression_hits');
}
