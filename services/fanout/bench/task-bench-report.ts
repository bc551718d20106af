// The task benchmark's tables (see task-bench.ts).
import { LatencyHistogram } from './latency-histogram.js';
import type { OutputFlow } from './output-stamps.js';
import type { Cpu, Created } from './task-bench-stack.js';
import { MIB } from './task-bench-stack.js';
import type { TaskSeen } from './task-watcher.js';

export interface DispatchRun {
  created: Created[];
  seen: TaskSeen[];
  runningAt: number[];
  seconds: number;
  cpu: Cpu;
}

export interface OutputRun {
  flow: OutputFlow;
  /** POST → SUCCEEDED in the browser, s; NaN for the pipe. */
  totalSeconds: number;
  state: string;
  truncated: boolean;
  cpu: Cpu;
}

export interface AlertWindow {
  acked: number;
  seconds: number;
  frames: number;
  output?: OutputRun;
  cpu: Cpu;
}

// ---- report ------------------------------------------------------------------------------

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const fmtMs = (ms: number) =>
  !Number.isFinite(ms) ? 'n/a' : ms >= 1000 ? `${fmt(ms / 1000, 2)} s` : `${fmt(ms, 1)} ms`;
const fmtRate = (bytesPerSecond: number) => `${fmt(bytesPerSecond / MIB, 1)} MiB/s`;
const cpuText = (c: Cpu) =>
  `${fmt(c.ingest, 2)}/${fmt(c.fanout, 2)}/${fmt(c.agents, 2)}/${fmt(c.machine, 2)}`;

function table(title: string, heads: string[], rows: Array<[string, ...string[]]>) {
  const width = 24;
  console.log(`\n${title}`);
  console.log(`  ${''.padEnd(44)}${heads.map((h) => h.padStart(width)).join('')}`);
  for (const [label, ...cells] of rows)
    console.log(`  ${label.padEnd(44)}${cells.map((c) => c.padStart(width)).join('')}`);
}

function latencies(values: number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of values) if (Number.isFinite(v)) h.record(Math.max(0, v));
  return h;
}

export function printDispatch(run: DispatchRun, title: string) {
  const n = run.created.length;
  const ok = run.seen.filter((s) => s.final?.state === 'SUCCEEDED').length;
  const answer = latencies(run.created.map((c) => c.answeredUs - c.createdUs));
  const running = latencies(run.runningAt.map((at, i) => at - run.created[i]!.createdUs));
  const runningSeen = latencies(
    run.seen.map((s, i) => (s.states.get('RUNNING') ?? Number.NaN) - run.created[i]!.createdUs),
  );
  const done = latencies(
    run.seen.map((s, i) =>
      s.final?.state === 'SUCCEEDED' ? s.final.atUs - run.created[i]!.createdUs : Number.NaN,
    ),
  );
  const pct = (h: LatencyHistogram, p: number) => fmtMs(h.percentileMs(p, n));
  table(
    `${title}: ${fmt(ok)} of ${fmt(n)} SUCCEEDED in ${fmt(run.seconds, 2)} s`,
    [
      '-> 201 (baseline)',
      '-> RUNNING on agent',
      '-> RUNNING in browser',
      '-> SUCCEEDED in browser',
    ],
    [50, 90, 99, 100].map((p) => [
      p === 100 ? 'max' : `p${p}`,
      pct(answer, p),
      pct(running, p),
      pct(runningSeen, p),
      pct(done, p),
    ]),
  );
  console.log(`  CPU cores ingest/fan-out/agents/machine: ${cpuText(run.cpu)}`);
}

export function printOutput(title: string, runs: Array<[string, OutputRun]>) {
  const cell = (f: (r: OutputRun) => string) => runs.map(([, r]) => f(r));
  table(
    title,
    runs.map(([name]) => name),
    [
      ['outcome', ...cell((r) => `${r.state}${r.truncated ? ' (truncated)' : ''}`)],
      ['bytes received', ...cell((r) => fmt(r.flow.bytes))],
      ['chunks (repeats dropped)', ...cell((r) => `${fmt(r.flow.chunks)} (${r.flow.duplicates})`)],
      ['first line written -> last byte received', ...cell((r) => `${fmt(r.flow.seconds, 2)} s`)],
      ['throughput', ...cell((r) => fmtRate(r.flow.bytesPerSecond))],
      [
        'create -> SUCCEEDED in browser',
        ...cell((r) => (Number.isFinite(r.totalSeconds) ? `${fmt(r.totalSeconds, 2)} s` : '-')),
      ],
      [
        'chunk latency p50 / p99',
        ...cell(
          (r) =>
            `${fmtMs(r.flow.latency.percentileMs(50))} / ${fmtMs(r.flow.latency.percentileMs(99))}`,
        ),
      ],
      ['chunk latency max', ...cell((r) => fmtMs(r.flow.maxLatencyUs / 1000))],
      ['CPU cores ingest/fan-out/agents/machine', ...cell((r) => cpuText(r.cpu))],
    ],
  );
}

/** One row per window, in the order they ran: without a task, with one, without, … */
export function printAlerts(windows: AlertWindow[]) {
  table(
    "one agent's alerts, windows without and with a task on its host streaming output",
    ['alerts stored /s', 'frames in browser /s', 'task output', 'CPU i/f/a/machine'],
    windows.map((w) => [
      `${w.output ? 'task streaming' : 'no task (baseline)'}, ${fmt(w.seconds, 2)} s`,
      fmt(w.acked / w.seconds),
      fmt(w.frames / w.seconds),
      w.output ? `${fmtRate(w.output.flow.bytesPerSecond)} ${w.output.state}` : '-',
      cpuText(w.cpu),
    ]),
  );
  // Rates over the summed windows of each kind.
  const rate = (ws: AlertWindow[]) =>
    ws.reduce((n, w) => n + w.acked, 0) / ws.reduce((t, w) => t + w.seconds, 0);
  const quiet = rate(windows.filter((w) => !w.output));
  const busy = rate(windows.filter((w) => w.output));
  console.log(
    `  alerts/s: ${fmt(quiet)} without a task, ${fmt(busy)} with one streaming (${fmt((busy / quiet) * 100)}%)`,
  );
}
