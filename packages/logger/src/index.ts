import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

// Anything that could hold a secret, wherever it appears in a log object.
const REDACT_PATHS = [
  'authorization',
  'token',
  'agentToken',
  'agent_token',
  'enrollmentToken',
  'password',
  '*.authorization',
  '*.token',
  '*.agentToken',
  '*.agent_token',
  '*.enrollmentToken',
  '*.password',
  'metadata.authorization',
  'headers.authorization',
  'headers.cookie',
];

export interface LoggerOptions {
  name: string;
  level?: string;
  /** Human-readable lines for a person at a terminal; JSON otherwise. */
  pretty?: boolean;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
}

export function createLogger({
  name,
  level = 'info',
  pretty = false,
  destination,
}: LoggerOptions): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      transport:
        pretty && !destination ? { target: 'pino-pretty', options: { colorize: true } } : undefined,
    },
    destination,
  );
}

/** A URL safe to log: any password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

/** What every service's configuration has for its logger and its two servers. */
export interface ServiceLogConfig {
  LOG_LEVEL: string;
  LOG_PRETTY: boolean;
  DATABASE_URL: string;
  REDIS_URL: string;
}

/**
 * A service process's logger. It also logs unhandled rejections (which would otherwise end the
 * process with nothing in the log) and says where the service connects, passwords redacted.
 */
export function createServiceLogger(name: string, config: ServiceLogConfig): Logger {
  const log = createLogger({ name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));
  log.info(
    { database: redactUrl(config.DATABASE_URL), redis: redactUrl(config.REDIS_URL) },
    'starting',
  );
  return log;
}
