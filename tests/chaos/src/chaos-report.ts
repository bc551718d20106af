// The run's report as text: what was done to the system, then every count that must be zero.
import type { ChaosResult } from './chaos-run.js';
import { failures } from './delivery-check.js';

export function formatReport(result: ChaosResult): string {
  const { report: r, options: o } = result;
  const lines: string[] = [];
  const out = (s = '') => lines.push(s);
  out(`TripWire chaos run — seed ${o.seed}`);
  out(
    `  ${o.alerts} alerts, ${o.agents} agents, ${o.clients} clients, ${o.durationS} s; faults: ${o.faults.join(', ') || 'none'}${o.busy ? `; ${o.busy} busy processes` : ''}`,
  );
  out(
    `  generation ${result.seconds.generation.toFixed(0)} s, quiescence ${result.seconds.quiescence.toFixed(0)} s, total ${result.seconds.total.toFixed(0)} s`,
  );
  if (result.unpublished > 0) {
    out(`  still unpublished when judged (the ledger, after 120 s): ${result.unpublished}`);
  }
  out();
  out('faults (s into the run, target, down for):');
  for (const f of result.faults) {
    out(
      `  ${f.startedS.toFixed(1).padStart(6)}  ${f.kind.padEnd(17)} #${f.target + 1}  ${f.forMs} ms ${f.note}`,
    );
  }
  out(`  agents killed: ${result.agentKills}`);
  if (result.unexpectedExits.length) {
    out('processes that exited on their own:');
    for (const e of result.unexpectedExits) out(`  ${e}`);
  }
  out();
  out('alerts: generated vs stored in PostgreSQL');
  out(`  generated (durable in an outbox)  ${r.generated}`);
  out(
    `  uncertain (agent killed mid-enqueue) ${r.uncertain}, of which stored ${r.uncertainStored}`,
  );
  out(`  rows stored                        ${r.storedRows} (${r.otherRows} not made by the run)`);
  out(`  lost                               ${r.lost}`);
  out(`  duplicated rows                    ${r.duplicatedRows}`);
  out(`  rows no agent generated            ${r.phantomRows}`);
  out();
  out('clients: should have seen (PostgreSQL, by filter) vs saw');
  out(
    `  ${'client'.padEnd(10)} ${'expected'.padStart(8)} ${'received'.padStart(8)} ${'missing'.padStart(8)} ${'dup'.padStart(6)} ${'order'.padStart(6)} ${'unexp'.padStart(6)} ${'incid.'.padStart(7)}  filter`,
  );
  r.clients.forEach((c, i) => {
    const filter = result.filters[i]!.split(': ')[1];
    const drop = c.injectedDrops ? ` (self-test: ${c.injectedDrops} dropped on purpose)` : '';
    out(
      `  ${c.name.padEnd(10)} ${String(c.expected).padStart(8)} ${String(c.received).padStart(8)} ${String(c.missing).padStart(8)} ${String(c.duplicated).padStart(6)} ${String(c.outOfOrder).padStart(6)} ${String(c.unexpected).padStart(6)} ${String(c.incidents).padStart(7)}  ${filter}${drop}`,
    );
    if (c.missingSample.length) {
      out(`             missing ones stored at ${secondRanges(c.missingBySecond)}`);
      out(`             e.g. ${c.missingSample.slice(0, 2).join(', ')}`);
      for (const [mark, t] of c.missingByMark) {
        const span = mark.startsWith('epoch') ? ` offsets ${t.first}-${t.last}` : '';
        out(`             ledger: ${mark}${span}: ${t.count}`);
      }
    }
    for (const [kind, n] of c.duplicateKinds) out(`             duplicates: ${kind} (${n})`);
    for (const d of c.duplicateSamples) out(`               e.g. ${d}`);
    if (c.afterNotice)
      out(`             alerts after a notice on the same socket, not taken: ${c.afterNotice}`);
  });
  out();
  out(`resumes (welcome.resume status/source/reason), ${result.connects} connections in all:`);
  for (const [k, v] of [...result.resumes].sort()) out(`  ${k.padEnd(40)} ${v}`);
  out('notices received:');
  if (!result.notices.size) out('  none');
  for (const [k, v] of [...result.notices].sort()) out(`  ${k.padEnd(40)} ${v}`);
  out();
  const bad = failures(r);
  out(bad.length ? `FAILED (${bad.length} nonzero counts):` : 'PASSED: every count is zero');
  for (const b of bad) out(`  ${b}`);
  return lines.join('\n');
}

/** {49: 10, 50: 3, 51: 7, 80: 1} → "49-51 s (20), 80 s (1)": consecutive seconds joined. */
export function secondRanges(bySecond: Map<number, number>): string {
  const seconds = [...bySecond.keys()].sort((a, b) => a - b);
  const ranges: string[] = [];
  let i = 0;
  while (i < seconds.length) {
    let j = i;
    let n = bySecond.get(seconds[i]!)!;
    while (j + 1 < seconds.length && seconds[j + 1] === seconds[j]! + 1)
      n += bySecond.get(seconds[++j]!)!;
    const span = i === j ? `${seconds[i]}` : `${seconds[i]}-${seconds[j]}`;
    ranges.push(`${span} s (${n})`);
    i = j + 1;
  }
  return ranges.join(', ');
}
