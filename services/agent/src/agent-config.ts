// Settings for `tripwire-agent run`, from (weakest first) a config file, an env file, the
// environment and command-line flags. Every setting has one name per source: the flag
// `--state-dir`, the variable TRIPWIRE_STATE_DIR, the config-file key `state_dir`.
import { readFileSync } from 'node:fs';
import { parseEnv as parseEnvFile } from 'node:util';
import { ConfigError, envBool, envInt, envLogLevel, parseEnv } from '@tripwire/config';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { checkTaskConfig, TASK_SETTINGS, taskConfigShape } from './task-settings.js';

export { ConfigError };

export interface Setting {
  flag: string;
  env: string;
  /** Shown by --help. */
  help: string;
  boolean?: boolean;
}

/** Every setting of `run`, in the order --help lists them. */
export const RUN_SETTINGS: Setting[] = [
  {
    flag: 'server',
    env: 'TRIPWIRE_SERVER',
    help: 'ingest service address, HOST:PORT, or a comma list HOST:PORT,HOST:PORT to fail over between instances (each reconnect tries the next) (required)',
  },
  {
    flag: 'enroll-token-file',
    env: 'TRIPWIRE_ENROLL_TOKEN_FILE',
    help: "file holding the enrollment token (mode 0600, this user's); needed only to register (first start, or when the server rejects the stored agent token); read again at each registration",
  },
  {
    flag: 'enroll-token',
    env: 'TRIPWIRE_ENROLL_TOKEN',
    help: 'the enrollment token itself: prefer the variable or --enroll-token-file, as other local users can read a flag (ps, /proc/<pid>/cmdline)',
  },
  {
    flag: 'state-dir',
    env: 'TRIPWIRE_STATE_DIR',
    help: 'where host id, agent token (0600), rules and the outbox live (default /var/lib/tripwire-agent)',
  },
  {
    flag: 'hostname',
    env: 'TRIPWIRE_HOSTNAME',
    help: 'name to register under (default: this host name)',
  },
  {
    flag: 'tls-ca',
    env: 'TRIPWIRE_TLS_CA',
    help: 'PEM CA that signed the server certificate: turns TLS on',
  },
  {
    flag: 'tls-cert',
    env: 'TRIPWIRE_TLS_CERT',
    help: 'PEM client certificate, for mTLS (with --tls-key)',
  },
  { flag: 'tls-key', env: 'TRIPWIRE_TLS_KEY', help: 'PEM client key, for mTLS (with --tls-cert)' },
  {
    flag: 'tls-server-name',
    env: 'TRIPWIRE_TLS_SERVER_NAME',
    help: 'name to check the server certificate against, when it differs from HOST',
  },
  {
    flag: 'insecure',
    env: 'TRIPWIRE_INSECURE',
    help: 'send in plaintext without TLS (development only; required when no --tls-ca is given)',
    boolean: true,
  },
  {
    flag: 'rules-file',
    env: 'TRIPWIRE_RULES_FILE',
    help: "local rules (YAML or JSON), watched besides the server's (default: the bundled default-rules.yaml)",
  },
  {
    flag: 'rescan-interval',
    env: 'TRIPWIRE_RESCAN_INTERVAL_S',
    help: 'seconds between full file rescans (default 60)',
  },
  {
    flag: 'process-poll',
    env: 'TRIPWIRE_PROCESS_POLL_MS',
    help: 'milliseconds between /proc scans (default 1000)',
  },
  {
    flag: 'network-poll',
    env: 'TRIPWIRE_NETWORK_POLL_MS',
    help: 'milliseconds between /proc/net/tcp scans (default 2000)',
  },
  {
    flag: 'outbox-max-mb',
    env: 'TRIPWIRE_OUTBOX_MAX_MB',
    help: 'outbox size cap in MiB; oldest INFO alerts go first (default 64)',
  },
  {
    flag: 'cmdline-max-bytes',
    env: 'TRIPWIRE_CMDLINE_MAX_BYTES',
    help: 'command lines are cut to this many bytes in alerts; rules match the whole (default 4096)',
  },
  {
    flag: 'detail-max-bytes',
    env: 'TRIPWIRE_DETAIL_MAX_BYTES',
    help: "an alert's detail is clipped to this many bytes of JSON, keep it under ingest's MAX_EVENT_DETAIL_BYTES (default 61440)",
  },
  {
    flag: 'dead-letter-max-mb',
    env: 'TRIPWIRE_DEAD_LETTER_MAX_MB',
    help: 'dead-letter file cap in MiB (CRITICAL alerts the server refused); rotated once (default 16)',
  },
  {
    flag: 'lock-stale',
    env: 'TRIPWIRE_LOCK_STALE_S',
    help: "seconds after which the lock of an agent that stopped refreshing it (killed) is taken over; a start waits this long for a live agent's lock (default 10)",
  },
  {
    flag: 'log-level',
    env: 'TRIPWIRE_LOG_LEVEL',
    help: 'fatal, error, warn, info, debug or trace (default info)',
  },
  ...TASK_SETTINGS,
];

// One HOST:PORT, or several separated by commas (the agent fails over between them).
const HOST_PORT = String.raw`(\[[0-9a-fA-F:]+\]|[^\s:/,]+):\d{1,5}`;
const hostPort = z
  .string({ message: 'is required: the ingest service as HOST:PORT' })
  .regex(
    new RegExp(`^${HOST_PORT}(,${HOST_PORT})*$`),
    'must be HOST:PORT or a comma list of them, e.g. ingest.example.com:50051 or ingest-a:50051,ingest-b:50051',
  );

const schema = z
  .object({
    TRIPWIRE_SERVER: hostPort,
    // Empty counts as unset: an env file whose token line was blanked after registration.
    TRIPWIRE_ENROLL_TOKEN: z.string().optional(),
    TRIPWIRE_ENROLL_TOKEN_FILE: z.string().optional(),
    TRIPWIRE_STATE_DIR: z.string().default('/var/lib/tripwire-agent'),
    TRIPWIRE_HOSTNAME: z.string().max(253).optional(),
    TRIPWIRE_TLS_CA: z.string().optional(),
    TRIPWIRE_TLS_CERT: z.string().optional(),
    TRIPWIRE_TLS_KEY: z.string().optional(),
    TRIPWIRE_TLS_SERVER_NAME: z.string().optional(),
    TRIPWIRE_INSECURE: envBool(false),
    TRIPWIRE_RULES_FILE: z.string().optional(),
    TRIPWIRE_RESCAN_INTERVAL_S: envInt(60, 1, 86_400),
    TRIPWIRE_PROCESS_POLL_MS: envInt(1000, 100, 60_000),
    TRIPWIRE_NETWORK_POLL_MS: envInt(2000, 100, 60_000),
    TRIPWIRE_OUTBOX_MAX_MB: envInt(64, 1, 100_000),
    TRIPWIRE_CMDLINE_MAX_BYTES: envInt(4096, 256, 1024 * 1024),
    TRIPWIRE_DETAIL_MAX_BYTES: envInt(60 * 1024, 1024, 1024 * 1024),
    TRIPWIRE_DEAD_LETTER_MAX_MB: envInt(16, 1, 10_000),
    TRIPWIRE_LOCK_STALE_S: envInt(10, 2, 3600),
    TRIPWIRE_LOG_LEVEL: envLogLevel,
    ...taskConfigShape,
  })
  .superRefine((c, ctx) => {
    checkTaskConfig(c, ctx);
    if (!c.TRIPWIRE_TLS_CA && !c.TRIPWIRE_INSECURE)
      ctx.addIssue({
        code: 'custom',
        path: ['TRIPWIRE_TLS_CA'],
        message:
          'is required for TLS; or set --insecure (TRIPWIRE_INSECURE=true) to send in plaintext',
      });
    if (c.TRIPWIRE_ENROLL_TOKEN && c.TRIPWIRE_ENROLL_TOKEN_FILE)
      ctx.addIssue({
        code: 'custom',
        path: ['TRIPWIRE_ENROLL_TOKEN'],
        message: 'give the enrollment token once: either it or --enroll-token-file',
      });
    if (!!c.TRIPWIRE_TLS_CERT !== !!c.TRIPWIRE_TLS_KEY)
      ctx.addIssue({
        code: 'custom',
        path: [c.TRIPWIRE_TLS_CERT ? 'TRIPWIRE_TLS_KEY' : 'TRIPWIRE_TLS_CERT'],
        message: 'mTLS needs both --tls-cert and --tls-key',
      });
  });

export type AgentConfig = z.output<typeof schema>;

function readSource(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
}

/** A YAML or JSON config file: keys are the flag names with _ or - (`state_dir: /var/lib/…`). */
function fromConfigFile(path: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = parseYaml(readSource(path, 'config file'));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config file ${path} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`config file ${path} must hold a mapping of settings`);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc)) {
    const setting = RUN_SETTINGS.find((s) => s.flag === key.replaceAll('_', '-'));
    if (!setting)
      throw new ConfigError(
        `config file ${path}: unknown setting "${key}" (known: ${RUN_SETTINGS.map((s) => s.flag.replaceAll('-', '_')).join(', ')})`,
      );
    out[setting.env] = String(value);
  }
  return out;
}

/**
 * Merges the sources and checks the result; the error names every bad setting at once.
 * `flags` holds parsed command-line values by flag name.
 */
export function loadAgentConfig(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined> = process.env,
): AgentConfig {
  const configFile = (flags.config as string | undefined) ?? env.TRIPWIRE_CONFIG;
  const envFile = (flags['env-file'] as string | undefined) ?? env.TRIPWIRE_ENV_FILE;
  const merged: Record<string, string | undefined> = {
    ...(configFile ? fromConfigFile(configFile) : {}),
    ...(envFile ? parseEnvFile(readSource(envFile, 'env file')) : {}),
  };
  for (const s of RUN_SETTINGS) if (env[s.env] !== undefined) merged[s.env] = env[s.env];
  for (const s of RUN_SETTINGS) {
    const v = flags[s.flag];
    if (v !== undefined) merged[s.env] = String(v);
  }
  try {
    return parseEnv(schema, merged, 'agent');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Name each setting the way a person may have given it: flag and variable.
    let message = err.message;
    for (const s of RUN_SETTINGS)
      message = message.replaceAll(`  ${s.env}:`, `  --${s.flag} (${s.env}):`);
    throw new ConfigError(message);
  }
}
