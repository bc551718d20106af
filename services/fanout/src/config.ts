import { z } from 'zod';

const int = (fallback: number, min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

const url = (protocols: string[], example: string) =>
  z.string({ message: `is required (e.g. ${example})` }).refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL like ${example}`);

const schema = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/tripwire'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://host:6379'),
  OPERATOR_JWT_SECRET: z
    .string({ message: 'is required: the HS256 secret operator tokens are signed with' })
    .min(32, 'must be at least 32 characters'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(8080, 0, 65535),
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  COOKIE_SECURE: bool(false),
  WS_MAX_PAYLOAD_BYTES: int(64 * 1024, 1024, 16 * 1024 * 1024),
  WS_MAX_BACKPRESSURE_BYTES: int(1024 * 1024, 16 * 1024, 256 * 1024 * 1024),
  WS_IDLE_TIMEOUT_S: int(60, 8, 960),
  WS_MAX_SUBSCRIPTIONS: int(16, 1, 1000),
  WS_MAX_FILTER_ENTRIES: int(100, 1, 10_000),
  WS_RATE_LIMIT_MESSAGES: int(50, 1, 100_000),
  WS_RATE_LIMIT_WINDOW_S: int(10, 1, 3600),
  HISTORY_WINDOW_S: int(3600, 1, 7 * 24 * 3600),
  HISTORY_MAX_ENTRIES: int(50_000, 10, 10_000_000),
  BUS_KEY_PREFIX: z.string().default(''),
  BUS_READ_BLOCK_MS: int(5_000, 100, 60_000),
  SHUTDOWN_DRAIN_MS: int(5_000, 0, 600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool(false),
});

export type FanoutConfig = z.output<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and checks the environment; the error names every bad variable at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FanoutConfig {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`Invalid fan-out configuration:\n${lines.join('\n')}`);
}
