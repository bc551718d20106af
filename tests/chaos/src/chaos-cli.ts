// pnpm chaos: parses the options, runs, prints the report; exit 0 only if every count is zero,
// 1 if not (or the run could not complete), 2 on a bad command line.
import { formatReport } from './chaos-report.js';
import { runChaos } from './chaos-run.js';
import { failures } from './delivery-check.js';
import { parseRunOptions, USAGE, UsageError } from './run-options.js';

async function main(): Promise<number> {
  let options: ReturnType<typeof parseRunOptions>;
  try {
    options = parseRunOptions(process.argv.slice(2).filter((a) => a !== '--'));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const say = (line: string) => console.log(`[chaos] ${line}`);
  const result = await runChaos(options, server, say);
  console.log(`\n${formatReport(result)}`);
  return failures(result.report).length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error('the chaos run could not complete:', err);
    process.exit(1);
  },
);
