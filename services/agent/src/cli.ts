#!/usr/bin/env node
// tripwire-agent: `run` watches this host; `demo` sends synthetic alerts. See --help.
import { parseArgs } from 'node:util';
import { createAgentClient } from '@tripwire/agent-sdk';
import { commandLineProblem, exitWithUsage } from '@tripwire/config';
import { stopOnSignals } from '@tripwire/lifecycle';
import { createLogger } from '@tripwire/logger';
import { startTracing } from '@tripwire/tracing';
import { type AgentConfig, ConfigError, loadAgentConfig, RUN_SETTINGS } from './agent-config.js';
import { AGENT_VERSION } from './agent-version.js';
import { clientOptions } from './client-options.js';
import { runDemo } from './demo-alerts.js';
import { runAgent } from './run-agent.js';
import { BUNDLE } from './shipped-files.js';

const SOURCES_HELP = `Settings come from, weakest first: --config FILE (YAML/JSON, keys like state_dir),
--env-file FILE (KEY=VALUE lines), the environment (TRIPWIRE_*), then flags.`;

/** Every `run` setting, one flag a line with its variable under it. */
function settingsHelp() {
  const rows = [
    { flag: 'config FILE', env: 'TRIPWIRE_CONFIG', help: 'YAML or JSON settings file' },
    { flag: 'env-file FILE', env: 'TRIPWIRE_ENV_FILE', help: 'KEY=VALUE settings file' },
    ...RUN_SETTINGS,
  ];
  const width = Math.max(...rows.map((s) => s.flag.length)) + 2;
  return rows
    .map((s) => `  --${s.flag.padEnd(width)}${s.help}\n  ${''.padEnd(width + 2)}env ${s.env}`)
    .join('\n');
}

const HELP: Record<string, string> = {
  main: `tripwire-agent ${AGENT_VERSION}: watches files, processes and network listeners on this host
and streams alerts to a TripWire ingest service.

Usage:
  tripwire-agent run  --server HOST:PORT[,HOST:PORT…] --enroll-token-file FILE --state-dir DIR [options]
  tripwire-agent demo --server HOST:PORT[,HOST:PORT…] --enroll-token-file FILE --state-dir DIR --rate N [--duration S]
  tripwire-agent <command> --help

The enrollment token goes in a file (mode 0600) or in TRIPWIRE_ENROLL_TOKEN, never on the
command line, where every local user can read it (ps, /proc/<pid>/cmdline).

Commands:
  run    watch this host with the rules from the server and the local rules file
  demo   send realistic synthetic alerts (demos, load tests); watches nothing
`,
  run: `tripwire-agent run: watch this host and stream alerts.

${SOURCES_HELP}

${settingsHelp()}

Alerts are written to the outbox in --state-dir (fsynced) before they count as queued, and
removed only when the server acknowledges them, so a crash or restart loses nothing.
`,
  demo: `tripwire-agent demo: send synthetic FILE, PROCESS and NETWORK alerts through the real client.

  --rate N                 alerts per second (default 10)
  --duration S             stop after S seconds (default: run until Ctrl-C)
  and every connection setting of \`run\` (--server, --enroll-token-file, --state-dir, --tls-*, --insecure, …).
  Use a state dir of its own: the demo registers as its own host.
`,
};

const options = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  config: { type: 'string' },
  'env-file': { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  ...Object.fromEntries(
    RUN_SETTINGS.map((s) => [
      s.flag,
      { type: s.boolean ? ('boolean' as const) : ('string' as const) },
    ]),
  ),
} as const;

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

async function main(argv: string[]) {
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof options; allowPositionals: true; args: string[] }>
  >;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (err) {
    // The usage of the command named (run, demo), else the main one; on stderr, exit 2.
    const named = argv.find((a) => a === 'run' || a === 'demo');
    exitWithUsage(HELP[named ?? 'main'] ?? '', commandLineProblem(err, options));
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.version) return console.log(AGENT_VERSION);
  if (!command || command === 'help')
    return console.log(HELP[positionals[1] ?? 'main'] ?? HELP.main);
  if (!(command in HELP) || command === 'main')
    exitWithUsage(HELP.main ?? '', `unknown command "${command}"; commands: run, demo`);
  if (values.help) return console.log(HELP[command]);

  const flags = values as Record<string, string | boolean | undefined>;
  let config: AgentConfig;
  try {
    config = loadAgentConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const log = createLogger({
    name: 'tripwire-agent',
    level: config.TRIPWIRE_LOG_LEVEL,
    // pino-pretty runs in a worker thread loaded from a file, which the single executable lacks.
    pretty: process.stdout.isTTY && !BUNDLE,
  });
  if (flags['enroll-token'] !== undefined)
    log.warn(
      'the enrollment token was given with --enroll-token: every local user can read it (ps, /proc/<pid>/cmdline); use --enroll-token-file FILE (mode 0600) or the TRIPWIRE_ENROLL_TOKEN variable',
    );

  // Off (nothing loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set: docs/operations.md#tracing.
  const tracing = await startTracing('tripwire-agent', log);
  if (command === 'run') {
    const agent = await runAgent(config, log).catch((err: unknown) =>
      fail(`cannot start: ${(err as Error).message}`, 1),
    );
    stopOnSignals(
      () => agent.stop().finally(tracing.shutdown),
      (signal) => log.info({ signal }, 'stopping'),
    );
    return;
  }

  const rate = Number(values.rate ?? 10);
  const duration = Number(values.duration ?? 0);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 100_000)
    fail('--rate must be a number from 1 to 100000');
  if (!Number.isFinite(duration) || duration < 0)
    fail('--duration must be a number of seconds, 0 or more');
  const client = createAgentClient(clientOptions(config, log));
  await client.start().catch((err: unknown) => fail(`cannot start: ${(err as Error).message}`, 1));
  log.info({ rate, duration, hostId: client.hostId }, 'sending demo alerts');
  const demo = runDemo(client, log, rate, duration);
  const finish = async () => {
    demo.stop();
    await demo.done;
    await client.flush(10_000);
    await client.stop();
    await tracing.shutdown();
  };
  stopOnSignals(finish, (signal) => log.info({ signal }, 'stopping'));
  const sent = await demo.done;
  log.info({ ...client.stats(), generated: sent }, 'demo alerts generated');
  const flushed = await client.flush(30_000);
  log.info({ ...client.stats(), generated: sent, flushed }, 'demo finished');
  await client.stop();
  await tracing.shutdown();
  process.exit(flushed ? 0 : 1);
}

// Not a top-level await: the single executable's bundle is CommonJS (Node's SEA runs no ESM).
main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
