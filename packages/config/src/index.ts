import { z } from 'zod';

/** A whole number from the environment, within bounds, with a default. */
export const envInt = (fallback: number, min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** true/false (also 1/0, yes/no) from the environment, with a default. */
export const envBool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A required URL with one of the given protocols; the messages show an example. */
export const envUrl = (protocols: string[], example: string) =>
  z
    .string({ message: `is required (e.g. ${example})` })
    .min(1, `is required (e.g. ${example})`)
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL like ${example}`);

/**
 * Timeouts on Redis and PostgreSQL, shared by both services (docs/operations.md):
 * a dependency that hangs while connected fails requests instead of stalling them.
 */
export const dependencyTimeouts = {
  REDIS_COMMAND_TIMEOUT_MS: envInt(5_000, 100, 600_000),
  PG_STATEMENT_TIMEOUT_MS: envInt(15_000, 0, 86_400_000),
  PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: envInt(30_000, 0, 86_400_000),
  // After a timeout with no successful answer since, how long until a probe decides whether the
  // dependency is hung (readiness fails, agent streams end, browsers are told).
  DEPENDENCY_HUNG_AFTER_MS: envInt(5_000, 10, 600_000),
  // While suspect or hung: how often the probe runs, and how long it may take to answer.
  DEPENDENCY_PROBE_INTERVAL_MS: envInt(2_000, 10, 60_000),
};

/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address. */
const HOST_PORT = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})$/;
/** More Sentinels than this is a mistake in the list, not a deployment. */
const MAX_SENTINELS = 16;

/**
 * Redis behind Sentinel, shared by both services (docs/operations.md, "Redis high
 * availability"): REDIS_SENTINELS, a comma-separated host:port list (empty: connect to
 * REDIS_URL's host directly), and REDIS_SENTINEL_NAME, the name they monitor the primary under.
 * With Sentinels, REDIS_URL still gives the password, user, database number and TLS (rediss:).
 */
export const redisSentinelSettings = {
  REDIS_SENTINELS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      const sentinels: Array<{ host: string; port: number }> = [];
      for (const item of value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const m = HOST_PORT.exec(item);
        const port = Number(m?.[2]);
        if (!m || port < 1 || port > 65535) {
          ctx.addIssue({
            code: 'custom',
            message: `"${item.slice(0, 64)}" is not host:port (e.g. sentinel-0:26379,sentinel-1:26379)`,
          });
          return z.NEVER;
        }
        sentinels.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
      }
      if (sentinels.length > MAX_SENTINELS) {
        ctx.addIssue({ code: 'custom', message: `must list at most ${MAX_SENTINELS} Sentinels` });
        return z.NEVER;
      }
      return sentinels;
    }),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, ".", "_" or "-"')
    .default('mymaster'),
};

/** The Sentinel part of a service's config, as createRedisClient (@tripwire/bus) takes it. */
export function redisSentinelOptions(config: {
  REDIS_SENTINELS: Array<{ host: string; port: number }>;
  REDIS_SENTINEL_NAME: string;
}) {
  return { sentinels: config.REDIS_SENTINELS, sentinelName: config.REDIS_SENTINEL_NAME };
}

export const envLogLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment with a service's schema. Empty variables count as
 * unset; the error names every bad variable at once.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
  service: string,
): z.output<S> {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`Invalid ${service} configuration:\n${lines.join('\n')}`);
}

/** For a service's main: the config, or the error printed and exit code 2. */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

export {
  type CommandLineOptions,
  type CommandLineSpec,
  commandLineProblem,
  exitWithUsage,
  type ParsedCommandLine,
  parseCommandLine,
} from './command-line.js';
