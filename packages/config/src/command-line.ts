// The command line of every TripWire CLI, one way: node:util parseArgs in strict mode, then
// `--help` (or -h) prints the usage on stdout and exits 0, and anything not understood (an
// unknown option, a missing value, a stray argument) prints the problem and the usage on stderr
// and exits 2, like getopt tools, never a stack trace.
import { type ParseArgsConfig, parseArgs } from 'node:util';

export type CommandLineOptions = NonNullable<ParseArgsConfig['options']>;
type Options = CommandLineOptions;
type WithHelp<O extends Options> = O & { help: { type: 'boolean'; short: 'h' } };
/** parseArgs' result for these options (strict; --help already handled). */
export type ParsedCommandLine<O extends Options, P extends boolean> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; allowPositionals: P; strict: true }>
>;

export interface CommandLineSpec<O extends Options, P extends boolean> {
  /** Printed for --help (stdout) and after every mistake (stderr). */
  usage: string;
  options: O;
  allowPositionals?: P;
  /** Default: process.argv after the script. */
  args?: string[];
}

/** The problem, then the usage, on stderr; exit 2. For a CLI's own checks of its values too. */
export function exitWithUsage(usage: string, problem: string): never {
  process.stderr.write(`${problem}\n\n${usage.trimEnd()}\n`);
  process.exit(2);
}

export function parseCommandLine<const O extends Options, const P extends boolean = false>(
  spec: CommandLineSpec<O, P>,
): ParsedCommandLine<O, P> {
  let args = spec.args ?? process.argv.slice(2);
  // `pnpm <script> -- --flag` hands the script the `--` too.
  if (args[0] === '--') args = args.slice(1);
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as WithHelp<O>;
  let parsed: ParsedCommandLine<O, P>;
  try {
    parsed = parseArgs({
      args,
      options,
      allowPositionals: (spec.allowPositionals ?? false) as P,
      strict: true,
    });
  } catch (err) {
    exitWithUsage(spec.usage, (err as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${spec.usage.trimEnd()}\n`);
    process.exit(0);
  }
  return parsed;
}
