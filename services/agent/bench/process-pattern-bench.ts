// pnpm bench:agent-patterns — how long one PROCESS rule match takes on a hostile command line
// (issue 13 row 3: 128 KiB of "/nc /nc …"), before and after: the old default reverse-shell
// pattern on JavaScript's backtracking engine against the whole command line, and the new one
// on RE2 against the whole command line too (what the agent runs: matching only the first
// TRIPWIRE_CMDLINE_MAX_BYTES let padding hide the flag; that cap now bounds only the report).
// Every match of the old pattern blocks the agent's event loop (file, network, outbox) for as
// long as it runs.
// Knob: BENCH_PAD_KIB (128).
import { parseCommandLine } from '@tripwire/config';
import { createLogger } from '@tripwire/logger';
import RE2 from 're2';
import { DEFAULT_RULES_FILE, loadLocalRules } from '../src/local-rules.js';
import { DEFAULT_CMDLINE_MAX_BYTES, fullCmdline } from '../src/sensors/proc-processes.js';
import { compileProcessPattern } from '../src/sensors/process-pattern.js';

parseCommandLine({
  usage: `usage: pnpm bench:agent-patterns

How long one PROCESS rule match takes on a hostile command line, the old pattern on
JavaScript's engine against the new one on RE2 (BENCHMARKS.md). Takes no options:
  BENCH_PAD_KIB   the padding of the hostile command line (default 128)`,
  options: {},
});

const OLD_PATTERN = '(^|/)(nc|ncat|netcat|socat)( |$).*(-e|-c|exec)';
const PAD_KIB = Number(process.env.BENCH_PAD_KIB ?? 128);

const log = createLogger({ name: 'bench', level: 'silent' });
const rule = loadLocalRules(DEFAULT_RULES_FILE).find((r) => r.name === 'reverse-shell-tools')!;
const current = compileProcessPattern(rule, log)!;
const raw = Buffer.from('/nc\0'.repeat((PAD_KIB * 1024) / 4));
const { whole, text: cut } = fullCmdline(raw, DEFAULT_CMDLINE_MAX_BYTES);

function time(name: string, test: (text: string) => boolean, text: string, runs: number) {
  const start = process.hrtime.bigint();
  let matched = false;
  for (let i = 0; i < runs; i++) matched = test(text);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / runs;
  console.log(
    `${name.padEnd(58)} ${String(Buffer.byteLength(text)).padStart(7)} B  ${ms.toFixed(3).padStart(10)} ms/match  matched=${matched}`,
  );
}

const oldJs = new RegExp(OLD_PATTERN);
const oldRe2 = new RE2(OLD_PATTERN);
const newJs = new RegExp(rule.target);
console.log(`PROCESS rule match on ${PAD_KIB} KiB of "/nc /nc …" (one event-loop turn each)\n`);
time('before: old pattern, JavaScript RegExp, whole cmdline', (t) => oldJs.test(t), whole, 1);
time('old pattern, JavaScript RegExp, cut to 4 KiB', (t) => oldJs.test(t), cut, 20);
time('new pattern, JavaScript RegExp, cut to 4 KiB', (t) => newJs.test(t), cut, 20);
time('old pattern, RE2, whole cmdline', (t) => oldRe2.test(t), whole, 20);
time(
  'new pattern, RE2, cut to 4 KiB (before the review: padding hid the flag)',
  (t) => current.test(t),
  cut,
  200,
);
time(
  'after: new pattern, RE2, whole cmdline (what the agent runs)',
  (t) => current.test(t),
  whole,
  20,
);
