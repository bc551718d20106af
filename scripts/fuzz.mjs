// pnpm fuzz [runs]: every fast-check property (*.fuzz.test.ts) with a random seed and many more
// cases than `pnpm test` tries, package by package. Prints the seed (FUZZ_SEED=<seed> pnpm fuzz
// replays a run) and how many cases were tried.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithUsage, parseCommandLine } from './command-line.mjs';

const USAGE = `usage: pnpm fuzz [runs]

Every fast-check property (*.fuzz.test.ts) with a random seed and many more cases than
pnpm test tries, package by package; prints the seed and the cases tried.
  runs        cases per property (default FUZZ_RUNS, or 1000)

Environment: FUZZ_SEED (replays a run), FUZZ_RUNS.`;
const { positionals } = parseCommandLine({ usage: USAGE, options: {}, allowPositionals: true });
if (positionals.length > 1)
  exitWithUsage(USAGE, `one argument at most (runs), got ${positionals.length}`);
const root = new URL('..', import.meta.url).pathname;
const runs = positionals[0] ?? process.env.FUZZ_RUNS ?? '1000';
if (!/^[1-9]\d*$/.test(runs))
  exitWithUsage(USAGE, `runs: "${runs}" is not a whole number of cases`);
const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
const scratch = mkdtempSync(join(tmpdir(), 'tripwire-fuzz-'));
const report = join(scratch, 'report.jsonl');

const hasFuzzTests = (dir) =>
  readdirSync(dir).some((name) => {
    if (name === 'node_modules' || name === 'dist') return false;
    const path = join(dir, name);
    return statSync(path).isDirectory() ? hasFuzzTests(path) : name.endsWith('.fuzz.test.ts');
  });
const packages = ['packages', 'services', 'tests']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .filter((dir) => statSync(dir).isDirectory() && hasFuzzTests(dir));

console.log(`fuzzing with FUZZ_SEED=${seed}, ${runs} cases per property`);
let failed = false;
for (const dir of packages) {
  try {
    execFileSync('pnpm', ['exec', 'vitest', 'run', '.fuzz.test.ts'], {
      cwd: dir,
      stdio: 'inherit',
      env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: runs, FUZZ_REPORT: report },
    });
  } catch {
    failed = true;
  }
}
const lines = existsSync(report)
  ? readFileSync(report, 'utf8').trim().split('\n').filter(Boolean)
  : [];
const tried = lines.reduce((sum, line) => sum + JSON.parse(line).tried, 0);
rmSync(scratch, { recursive: true });
console.log(
  `${tried} cases over ${lines.length} properties in ${packages.length} packages, seed ${seed}: ` +
    (failed ? 'FAILURES above (replay with FUZZ_SEED)' : 'no failure'),
);
process.exit(failed ? 1 : 0);
