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

/** Longest option text echoed back: anything longer is cut (it may be a pasted secret). */
const MAX_ECHOED_CHARS = 40;

/**
 * parseArgs' message for a command line it refused, without echoing a value: `--enroll-tokenXYZ`
 * (the `=` forgotten) is an "unknown option" whose text is the secret, and stderr ends in the
 * journal (systemd) or a CI log. An unknown option that starts with a known one is named by the
 * known one; any other echoed text is cut to MAX_ECHOED_CHARS.
 */
export function commandLineProblem(err: unknown, options: Options): string {
  const message = (err as Error).message;
  const code = (err as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /'(-[^']*)'/.exec(message)?.[1] ?? '';
    const name = given.replace(/^--?/, '');
    const known = Object.keys(options)
      .filter((o) => o.length > 1 && name.startsWith(o) && name !== o)
      .sort((a, b) => b.length - a.length)[0];
    if (known)
      return `unknown option '--${known}…' (the rest is not shown): give its value as --${known}=VALUE or --${known} VALUE`;
  }
  return message.replace(
    new RegExp(`'([^']{${MAX_ECHOED_CHARS + 1},})'`, 'g'),
    (_, text: string) => `'${text.slice(0, MAX_ECHOED_CHARS)}…'`,
  );
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
    exitWithUsage(spec.usage, commandLineProblem(err, options));
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${spec.usage.trimEnd()}\n`);
    process.exit(0);
  }
  return parsed;
}
