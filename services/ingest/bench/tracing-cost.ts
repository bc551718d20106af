// Part of pnpm bench:ingest: the ingest with OpenTelemetry tracing on, side by side with the
// same loads tracing off from the same run. A fresh ingest process exports over OTLP/HTTP to a
// local sink (the stock batch span processor, default settings), every batch carrying a sampled
// traceparent as from agents that trace, so every batch's ingest spans are recorded.
import { type AgentsRun, fmt, type IngestProcess, type Load, runAgents } from './ingest-harness.js';
import { measureSpanCost, type OtlpCounter, startOtlpCounter } from './otlp-counter.js';

export interface TracedRun {
  full: AgentsRun;
  light: AgentsRun;
  exported: ReturnType<OtlpCounter['stats']>;
  spanMicros: number;
}

/** The full and light loads, traced, against `startIngest(env)` with the sink's endpoint. */
export async function runTraced(
  startIngest: (env: Record<string, string>) => Promise<IngestProcess>,
  fullLoad: Load,
  lightLoad: Load,
): Promise<TracedRun> {
  const sink = await startOtlpCounter();
  const ingest = await startIngest({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint });
  let full: AgentsRun;
  let light: AgentsRun;
  try {
    full = await runAgents(ingest, { ...fullLoad, traced: true });
    light = await runAgents(ingest, { ...lightLoad, traced: true });
  } finally {
    // SIGTERM: the shutdown sequence exports the spans still buffered.
    await ingest.stop();
  }
  const exported = sink.stats();
  const spanMicros = await measureSpanCost(sink.endpoint);
  await sink.close();
  return { full, light, exported, spanMicros };
}

/** What tracing off gave in the same bench (medians of its runs). */
export interface TracingOff {
  rate: number;
  p50: number;
  p99: number;
  lightP50: number;
  lightP99: number;
}

export function printTraced(traced: TracedRun, off: TracingOff, batches: number): void {
  const { full, light, exported, spanMicros } = traced;
  const rate = full.count / full.seconds;
  console.log(
    '\ntracing on (OTLP to a local sink, every batch traced) against off (median of the runs)',
  );
  console.log(
    `  ${'TripWire ingest, tracing on (OTLP)'.padEnd(34)} ${fmt(rate).padStart(10)} alerts/s  ` +
      `${(rate / off.rate).toFixed(2)}x tracing off (${fmt(off.rate)} alerts/s)`,
  );
  console.log(
    `  send -> ack p50/p99, full load        off ${off.p50.toFixed(1)}/${off.p99.toFixed(1)} ms, ` +
      `on ${full.p50.toFixed(1)}/${full.p99.toFixed(1)} ms`,
  );
  console.log(
    `  send -> ack p50/p99, light load       off ${off.lightP50.toFixed(1)}/${off.lightP99.toFixed(1)} ms, ` +
      `on ${light.p50.toFixed(1)}/${light.p99.toFixed(1)} ms`,
  );
  console.log(
    `  spans exported: ${fmt(exported.spans)} for ${fmt(batches)} batches, in ${fmt(exported.requests)} ` +
      `OTLP requests (${(exported.bytes / 1024 / 1024).toFixed(1)} MiB); one span costs ` +
      `${spanMicros.toFixed(1)} µs in-process (start, attributes, end)`,
  );
}
