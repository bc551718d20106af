import {
  envBool as bool,
  ConfigError,
  dependencyTimeouts,
  envInt as int,
  parseEnv,
  redisSentinelSettings,
  envUrl as url,
} from '@tripwire/config';
import { DEFAULT_EVENT_DETAIL_BYTES, EVENT_DETAIL_BYTES_RANGE } from '@tripwire/wire';
import { z } from 'zod';

export { ConfigError };

const optionalFile = z.string().min(1).optional();

const schema = z
  .object({
    DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/tripwire'),
    REDIS_URL: url(['redis:', 'rediss:'], 'redis://host:6379'),
    ...redisSentinelSettings,
    ...dependencyTimeouts,
    ENROLLMENT_TOKEN: z
      .string({ message: 'is required: the secret agents present to RegisterAgent' })
      .min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)'),
    // The fan-out's secret: IncidentService verifies the same operator tokens. Unset, it refuses every call.
    OPERATOR_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    // The longest an operator JWT may live (exp − iat): the fan-out's setting, for the same tokens.
    OPERATOR_TOKEN_MAX_AGE_S: int(30 * 86_400, 60, 366 * 86_400),
    GRPC_HOST: z.string().default('0.0.0.0'),
    GRPC_PORT: int(50051, 0, 65535),
    HTTP_HOST: z.string().default('0.0.0.0'),
    HTTP_PORT: int(8081, 0, 65535),
    GRPC_TLS_CERT_FILE: optionalFile,
    GRPC_TLS_KEY_FILE: optionalFile,
    GRPC_TLS_CLIENT_CA_FILE: optionalFile,
    GRPC_INSECURE: bool(false),
    GRPC_MAX_MESSAGE_BYTES: int(8 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
    MIGRATE_ON_START: bool(true),
    BATCH_MAX_SIZE: int(1_000, 1, 10_000),
    BATCH_MAX_DELAY_MS: int(10, 1, 10_000),
    BATCH_MAX_CONCURRENT: int(2, 1, 16),
    INCIDENT_WINDOW_S: int(300, 1, 7 * 86_400),
    INGEST_MAX_PENDING: int(20_000, 100, 1_000_000),
    // The same in bytes (event detail + 256 per alert): whichever is reached first stops reading
    // streams. Part of the memory budget in docs/operations.md#memory-budgets.
    INGEST_MAX_PENDING_BYTES: int(128 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024 * 1024),
    STREAM_MAX_UNACKED: int(5_000, 1, 1_000_000),
    MAX_EVENTS_PER_BATCH: int(1_000, 1, 100_000),
    // The most event detail stored per alert; a larger one is clipped (never refused).
    MAX_EVENT_DETAIL_BYTES: int(
      DEFAULT_EVENT_DETAIL_BYTES,
      EVENT_DETAIL_BYTES_RANGE.min,
      EVENT_DETAIL_BYTES_RANGE.max,
    ),
    MAX_FUTURE_SKEW_MS: int(5 * 60_000, 0, 24 * 3600_000),
    PING_INTERVAL_MS: int(30_000, 100, 3_600_000),
    // Bytes written to an agent (acks, rejections, rules) it has not read yet before it is cut off.
    AGENT_STREAM_MAX_BUFFERED_BYTES: int(8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    // The same for a StreamIncidents viewer.
    INCIDENT_STREAM_MAX_BUFFERED_BYTES: int(16 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once.
    GRPC_MAX_CONCURRENT_STREAMS: int(100, 1, 100_000),
    // Open StreamAlerts/StreamAlertBatches calls per host; more are refused RESOURCE_EXHAUSTED.
    MAX_STREAMS_PER_HOST: int(4, 1, 1_000),
    // After this, a connection is asked to go away (GOAWAY) so clients rebalance; 0 = never.
    GRPC_MAX_CONNECTION_AGE_MS: int(30 * 60_000, 0, 7 * 86_400_000),
    // How long calls on a connection past its age may finish before it is closed.
    GRPC_MAX_CONNECTION_AGE_GRACE_MS: int(30_000, 0, 86_400_000),
    // Failed RegisterAgent attempts (bad enrollment token) per client address per minute.
    REGISTER_RATE_LIMIT_PER_MINUTE: int(60, 1, 1_000_000),
    // How long a re-registration waiting for an admin's approval stays open (then the agent asks again).
    ENROLLMENT_PENDING_TTL_S: int(86_400, 60, 30 * 86_400),
    // Re-registrations of one host waiting at once (distinct requesters); more are refused RESOURCE_EXHAUSTED.
    ENROLLMENT_MAX_PENDING_PER_HOST: int(5, 1, 1_000),
    SHUTDOWN_GRACE_MS: int(20_000, 100, 600_000),
    HOST_HEARTBEAT_MS: int(5_000, 50, 600_000),
    HOST_LEASE_MS: int(20_000, 100, 3_600_000),
    HOST_SWEEP_MS: int(5_000, 50, 600_000),
    // Response actions (docs/response-actions.md "Configuration").
    TASKS_MAX_RUNNING_PER_HOST: int(1, 1, 64),
    TASK_OUTPUT_MAX_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
    TASK_FETCH_MAX_BYTES: int(10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    TASKS_SHELL_APPROVAL: bool(false),
    TASKS_DEFAULT_TIMEOUT_S: int(60, 1, 86_400),
    TASKS_MAX_TIMEOUT_S: int(3_600, 1, 86_400),
    TASKS_DEFAULT_EXPIRY_S: int(3_600, 1, 30 * 86_400),
    TASKS_MAX_EXPIRY_S: int(7 * 86_400, 1, 30 * 86_400),
    TASKS_TIMEOUT_GRACE_S: int(30, 1, 3_600),
    TASKS_DISCONNECT_GRACE_S: int(120, 1, 86_400),
    TASKS_SWEEP_MS: int(2_000, 50, 600_000),
    TASKS_PER_OPERATOR_PER_MINUTE: int(60, 0, 100_000),
    TASKS_PER_HOST_PER_MINUTE: int(30, 0, 100_000),
    TASKS_MAX_QUEUED_PER_HOST: int(100, 0, 100_000),
    TASKS_POLICY_WAIT_MS: int(10_000, 100, 600_000),
    // Task responses under 4 KiB one agent stream may send a second (0: no limit); past it the stream ends.
    TASK_STREAM_SMALL_RESPONSES_PER_S: int(200, 0, 1_000_000),
    // Output chunks under 4 KiB stored per task; later ones are dropped (the outcome still counts).
    TASK_MAX_CHUNKS_PER_TASK: int(4_096, 1, 10_000_000),
    // WatchTask calls open per operator / on this instance, and how often one rereads a task (floor 100 ms).
    TASK_WATCHES_PER_OPERATOR: int(16, 1, 100_000),
    TASK_WATCHES_MAX: int(1_000, 1, 1_000_000),
    TASK_WATCH_POLL_MS: int(500, 100, 60_000),
    TASK_RETENTION_DAYS: int(90, 0, 36_500),
    BUS_KEY_PREFIX: z.string().default(''),
    BUS_HISTORY_MAX_LENGTH: int(100_000, 10, 100_000_000),
    BUS_MAX_BACKLOG: int(100_000, 10, 10_000_000),
    // The same in bytes of message JSON (per stream): whichever is reached first drops the oldest.
    BUS_MAX_BACKLOG_BYTES: int(256 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024 * 1024),
    // Bytes per Redis stream entry (next to its 500 messages): Redis holds at most
    // BUS_HISTORY_MAX_LENGTH × this for the stream. A larger single message gets an entry alone.
    BUS_MAX_ENTRY_BYTES: int(1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
    // The republish sweep (docs/ingest.md "The republish sweep"): how often an instance looks for
    // dead ones (0: never), how long one must stay dead first, how far back before its death its
    // unmarked alerts are republished, and how many ledger rows one round may look at.
    INGEST_SWEEP_INTERVAL_MS: int(2_000, 0, 3_600_000),
    INGEST_SWEEP_GRACE_MS: int(3_000, 0, 3_600_000),
    INGEST_SWEEP_HORIZON_S: int(300, 1, 86_400),
    INGEST_SWEEP_MAX_ROWS: int(20_000, 100, 10_000_000),
    // Set to the fan-out's WS_BACKFILL_OVERLAP_MS: how far back a resume across a Redis reset
    // sends unpublished alerts by time, so how far back before a new epoch the sweep leaves them to it.
    INGEST_SWEEP_OVERLAP_MS: int(30_000, 0, 3_600_000),
    PARTITION_MONTHS_AHEAD: int(2, 1, 24),
    ALERT_RETENTION_MONTHS: int(0, 0, 1200),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    LOG_PRETTY: bool(false),
  })
  .superRefine((c, ctx) => {
    if (Boolean(c.GRPC_TLS_CERT_FILE) !== Boolean(c.GRPC_TLS_KEY_FILE)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.GRPC_TLS_CERT_FILE ? 'GRPC_TLS_KEY_FILE' : 'GRPC_TLS_CERT_FILE'],
        message: 'GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together',
      });
    }
    if (!c.GRPC_TLS_CERT_FILE && !c.GRPC_INSECURE) {
      ctx.addIssue({
        code: 'custom',
        path: ['GRPC_TLS_CERT_FILE'],
        message:
          'is required: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE, or GRPC_INSECURE=true to accept plaintext',
      });
    }
    if (c.HOST_LEASE_MS < 2 * c.HOST_HEARTBEAT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HOST_LEASE_MS'],
        message:
          'must be at least twice HOST_HEARTBEAT_MS, so one late heartbeat does not mark live hosts offline',
      });
    }
    for (const [value, max, name] of [
      [c.TASKS_DEFAULT_TIMEOUT_S, c.TASKS_MAX_TIMEOUT_S, 'TASKS_DEFAULT_TIMEOUT_S'],
      [c.TASKS_DEFAULT_EXPIRY_S, c.TASKS_MAX_EXPIRY_S, 'TASKS_DEFAULT_EXPIRY_S'],
    ] as const) {
      if (value > max)
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `must be at most ${name.replace('DEFAULT', 'MAX')}`,
        });
    }
    if (c.GRPC_TLS_CLIENT_CA_FILE && !c.GRPC_TLS_CERT_FILE) {
      ctx.addIssue({
        code: 'custom',
        path: ['GRPC_TLS_CLIENT_CA_FILE'],
        message: 'mTLS needs server TLS too: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE',
      });
    }
  });

export type IngestConfig = z.output<typeof schema>;

/** Reads and checks the environment; the error names every bad variable at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): IngestConfig {
  return parseEnv(schema, env, 'ingest');
}
