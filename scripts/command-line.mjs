// The repository scripts' command line, as @tripwire/config's parseCommandLine does it for the
// TypeScript CLIs (these run on plain node, which cannot load that TypeScript): node:util
// parseArgs, strict; --help/-h prints the usage on stdout, exit 0; anything not understood prints
// the problem and the usage on stderr, exit 2.
import { parseArgs } from 'node:util';

/** The problem, then the usage, on stderr; exit 2. */
export function exitWithUsage(usage, problem) {
  process.stderr.write(`${problem}\n\n${usage.trimEnd()}\n`);
  process.exit(2);
}

export function parseCommandLine({ usage, options, allowPositionals = false }) {
  let args = process.argv.slice(2);
  // `pnpm <script> -- --flag` hands the script the `--` too.
  if (args[0] === '--') args = args.slice(1);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    exitWithUsage(usage, err.message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage.trimEnd()}\n`);
    process.exit(0);
  }
  return parsed;
}
