import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import {
  envBool as bool,
  dependencyTimeouts,
  envLogLevel,
  envInt as int,
  parseEnv,
  redisSentinelSettings,
  envUrl as url,
} from '@tripwire/config';
import type { TaskLimits } from '@tripwire/storage';
import { z } from 'zod';
import type { ExportLimits } from './exporter.js';
import { checkOidcConfig } from './oidc-settings.js';

/**
 * The build output of the workspace package @tripwire/dashboard, found the way
 * Node finds any dependency (so it also works from a `pnpm deploy` folder);
 * undefined when that package is not installed.
 */
export function defaultDashboardDir(): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('@tripwire/dashboard/package.json');
    return join(dirname(manifest), 'dist');
  } catch {
    return undefined;
  }
}

/** A comma-separated list, blanks dropped. */
const commaList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  );

/** An optional http(s) URL. */
const optionalHttpUrl = (example: string) =>
  z
    .string()
    .optional()
    .refine((v) => {
      if (v === undefined) return true;
      try {
        return ['http:', 'https:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL like ${example}`);

const schema = z
  .object({
    DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/tripwire'),
    REDIS_URL: url(['redis:', 'rediss:'], 'redis://host:6379'),
    ...redisSentinelSettings,
    ...dependencyTimeouts,
    OPERATOR_JWT_SECRET: z
      .string({ message: 'is required: the HS256 secret operator tokens are signed with' })
      .min(32, 'must be at least 32 characters'),
    // The longest an operator JWT may live (exp − iat); a token without exp is always refused.
    OPERATOR_TOKEN_MAX_AGE_S: int(30 * 86_400, 60, 366 * 86_400),
    // How long a dashboard sign-in lasts (never longer than the token it was made from).
    SESSION_MAX_AGE_S: int(12 * 3600, 60, 30 * 86_400),
    // POST /api/session attempts per client address per minute (this instance); more → 429.
    SIGN_IN_RATE_LIMIT_PER_MINUTE: int(10, 1, 100_000),
    // GET /api/audit/verify (a scan of the whole chain) per minute, all admins together, this instance.
    AUDIT_VERIFY_PER_MINUTE: int(6, 1, 10_000),
    // Response actions created over REST (docs/response-actions.md; ingest's ResponseService
    // takes the same settings). Counted in PostgreSQL, so across every instance.
    TASKS_PER_OPERATOR_PER_MINUTE: int(60, 0, 100_000),
    TASKS_PER_HOST_PER_MINUTE: int(30, 0, 100_000),
    // Tasks waiting for one host (QUEUED or AWAITING_APPROVAL) at most; 0: no limit.
    TASKS_MAX_QUEUED_PER_HOST: int(100, 0, 100_000),
    // A task's timeout when the request names none, and the most it may ask for.
    TASKS_DEFAULT_TIMEOUT_S: int(60, 1, 86_400),
    TASKS_MAX_TIMEOUT_S: int(3600, 1, 86_400),
    // How long a task may wait for its host (offline, or busy) before it EXPIREs, by default and at most.
    TASKS_DEFAULT_EXPIRY_S: int(3600, 1, 30 * 86_400),
    TASKS_MAX_EXPIRY_S: int(7 * 86_400, 1, 30 * 86_400),
    // Output bytes kept per task (all streams); past it output is cut and the task marked truncated.
    TASK_OUTPUT_MAX_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
    // shell_execute waits for a second admin's approval (AWAITING_APPROVAL).
    TASKS_SHELL_APPROVAL: bool(false),
    // The longest life an API token may be given (expires_in_days); the default life is 90 days or this.
    API_TOKEN_MAX_AGE_DAYS: int(365, 1, 3650),
    // How often open WebSockets recheck their credential: revoked or expired → closed 4001.
    WS_CREDENTIAL_RECHECK_MS: int(2_000, 100, 600_000),
    // Exports (GET /api/{alerts,incidents,audit}/export): each running one holds a PostgreSQL
    // connection, so they are capped per operator and per instance (docs/fanout.md "Export").
    EXPORT_CONCURRENCY_PER_OPERATOR: int(1, 1, 100),
    EXPORT_CONCURRENCY_TOTAL: int(4, 1, 1000),
    EXPORTS_PER_OPERATOR_PER_MINUTE: int(10, 1, 10_000),
    // The longest one export may read for (a statement timeout over all its fetches); 0: no limit.
    EXPORT_MAX_DURATION_S: int(3600, 0, 7 * 86_400),
    // Rows per cursor fetch: about what one export holds in memory at once.
    EXPORT_BATCH_ROWS: int(1000, 10, 100_000),
    // Notifications (docs/notifications.md): this instance runs a delivery worker (several may).
    NOTIFY_WORKER: bool(true),
    NOTIFY_POLL_MS: int(1_000, 10, 60_000),
    NOTIFY_BATCH_SIZE: int(50, 1, 1_000),
    // A send (connect, request, answer) gives up after this and counts as a failed attempt.
    NOTIFY_SEND_TIMEOUT_MS: int(10_000, 100, 120_000),
    // Then a delivery is dead (visible in the dashboard, retried by hand): attempts or age.
    NOTIFY_MAX_ATTEMPTS: int(12, 1, 1_000),
    NOTIFY_MAX_AGE_S: int(86_400, 60, 30 * 86_400),
    // Retry delays: exponential from the base, capped, with full jitter.
    NOTIFY_BACKOFF_BASE_MS: int(1_000, 10, 3_600_000),
    NOTIFY_BACKOFF_MAX_MS: int(300_000, 10, 86_400_000),
    // Destinations on loopback, private, link-local (cloud metadata) addresses are refused unless set.
    NOTIFY_ALLOW_PRIVATE_DESTINATIONS: bool(false),
    HOST: z.string().default('0.0.0.0'),
    PORT: int(8080, 0, 65535),
    // /metrics on a port of its own, off the public one: for a scraper in another container.
    METRICS_HOST: z.string().default('0.0.0.0'),
    METRICS_PORT: int(9464, 0, 65535),
    // Whether the rightmost X-Forwarded-For entry (appended by the balancer) is the client's address.
    TRUST_PROXY: bool(false),
    ALLOWED_ORIGINS: commaList,
    COOKIE_SECURE: bool(false),
    // The longest expiry an admin may give a managed enrollment token.
    ENROLLMENT_TOKEN_MAX_TTL_S: int(30 * 86_400, 60, 365 * 86_400),
    // How long an approved re-enrollment waits for the agent's retry before it lapses.
    ENROLLMENT_APPROVAL_TTL_S: int(86_400, 60, 30 * 86_400),
    WS_MAX_PAYLOAD_BYTES: int(64 * 1024, 1024, 16 * 1024 * 1024),
    WS_MAX_BACKPRESSURE_BYTES: int(1024 * 1024, 16 * 1024, 256 * 1024 * 1024),
    WS_IDLE_TIMEOUT_S: int(60, 8, 960),
    WS_MAX_SUBSCRIPTIONS: int(16, 1, 1000),
    WS_MAX_FILTER_ENTRIES: int(100, 1, 10_000),
    WS_RATE_LIMIT_MESSAGES: int(50, 1, 100_000),
    WS_RATE_LIMIT_WINDOW_S: int(10, 1, 3600),
    WS_MAX_CONNECTIONS_PER_OPERATOR: int(20, 1, 100_000),
    WS_MAX_CONNECTIONS_PER_ADDRESS: int(100, 1, 1_000_000),
    WS_MAX_TOPICS: int(5_000, 1, 1_000_000),
    WS_RESUMES_PER_MINUTE: int(30, 1, 100_000),
    WS_REPLAY_SLICE_FRAMES: int(500, 1, 100_000),
    // How long a resume replay may wait for a reader that stopped reading before it is closed 4008.
    WS_REPLAY_STALL_MS: int(30_000, 100, 3_600_000),
    // A resume from PostgreSQL starts this long before its position's time: stores commit before
    // they publish (and PostgreSQL's and Redis's clocks may differ), docs/fanout.md.
    WS_BACKFILL_OVERLAP_MS: int(30_000, 0, 3_600_000),
    // The most alerts one resume reads from PostgreSQL; beyond them the browser is told to reload.
    WS_BACKFILL_MAX_ALERTS: int(100_000, 1, 10_000_000),
    // How long a resume waits for this node to read up to its position before PostgreSQL serves it.
    WS_RESUME_CATCH_UP_MS: int(5_000, 0, 60_000),
    // Must match ingest's: a resume from before what retention keeps is refused as unavailable.
    ALERT_RETENTION_MONTHS: int(0, 0, 1200),
    HISTORY_WINDOW_S: int(3600, 1, 7 * 24 * 3600),
    HISTORY_MAX_ENTRIES: int(50_000, 10, 10_000_000),
    // The same in bytes of frames: whichever is reached first evicts the oldest. Part of the
    // memory budget in docs/operations.md#memory-budgets.
    HISTORY_MAX_BYTES: int(256 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024 * 1024),
    // Alert ids are remembered this long (stream time) to drop a second copy: at least the
    // longest an agent takes to resend after its ingest died (docs/fanout.md#exactly-once).
    ALERT_DEDUPE_WINDOW_S: int(600, 1, 24 * 3600),
    // Caps that memory (~100 bytes an id); past it the window shortens (counted).
    ALERT_DEDUPE_MAX_IDS: int(2_000_000, 1_000, 50_000_000),
    BUS_KEY_PREFIX: z.string().default(''),
    BUS_READ_BLOCK_MS: int(5_000, 100, 60_000),
    SHUTDOWN_DRAIN_MS: int(5_000, 0, 600_000),
    // Resolved when the config is loaded, never at import time.
    DASHBOARD_DIR: z
      .string()
      .optional()
      .transform((dir) => (dir === undefined ? defaultDashboardDir() : resolve(dir))),
    LOG_LEVEL: envLogLevel,
    LOG_PRETTY: bool(false),
    // The address browsers use for the dashboard; the OIDC redirect URLs are derived from it.
    PUBLIC_URL: optionalHttpUrl('https://tripwire.example.com'),
    // Single sign-on (OpenID Connect): off unless OIDC_ISSUER is set (oidc-settings.ts, docs/sso.md).
    OIDC_ISSUER: optionalHttpUrl('https://login.example.com/realms/ops'),
    OIDC_CLIENT_ID: z.string().optional(),
    // Unset: a public client (PKCE only, no client authentication).
    OIDC_CLIENT_SECRET: z.string().optional(),
    OIDC_REDIRECT_URL: optionalHttpUrl('https://tripwire.example.com/api/auth/oidc/callback'),
    OIDC_SCOPES: z.string().default('openid profile email'),
    OIDC_ROLE_CLAIM: z.string().default('groups'),
    OIDC_ADMIN_VALUES: commaList,
    OIDC_RESPONDER_VALUES: commaList,
    OIDC_VIEWER_VALUES: commaList,
    OIDC_PROVIDER_NAME: z
      .string()
      .max(64, 'must be at most 64 characters')
      .default('single sign-on'),
    // How long a browser may take at the provider between "Sign in with …" and the callback.
    OIDC_LOGIN_TTL_S: int(600, 30, 3600),
    // Each request to the provider (discovery, token, userinfo, keys) gives up after this.
    OIDC_HTTP_TIMEOUT_S: int(10, 1, 120),
    // Callbacks per client address per minute: each one costs a request to the provider.
    OIDC_CALLBACKS_PER_MINUTE: int(30, 1, 100_000),
  })
  .superRefine((c, ctx) => {
    checkOidcConfig(c, ctx);
    checkTaskLimits(c, ctx);
  });

export type FanoutConfig = z.output<typeof schema>;

/** The limits of exports (exporter.ts). */
export function exportLimits(c: FanoutConfig): ExportLimits {
  return {
    perOperator: c.EXPORT_CONCURRENCY_PER_OPERATOR,
    total: c.EXPORT_CONCURRENCY_TOTAL,
    perOperatorPerMinute: c.EXPORTS_PER_OPERATOR_PER_MINUTE,
    maxDurationS: c.EXPORT_MAX_DURATION_S,
    batchRows: c.EXPORT_BATCH_ROWS,
  };
}

/** The bounds storage's createTask applies to tasks created here. */
export function taskLimits(c: FanoutConfig): TaskLimits {
  return {
    defaultTimeoutS: c.TASKS_DEFAULT_TIMEOUT_S,
    maxTimeoutS: c.TASKS_MAX_TIMEOUT_S,
    defaultExpiresInS: c.TASKS_DEFAULT_EXPIRY_S,
    maxExpiresInS: c.TASKS_MAX_EXPIRY_S,
    maxOutputBytes: c.TASK_OUTPUT_MAX_BYTES,
    perOperatorPerMinute: c.TASKS_PER_OPERATOR_PER_MINUTE,
    perHostPerMinute: c.TASKS_PER_HOST_PER_MINUTE,
    maxQueuedPerHost: c.TASKS_MAX_QUEUED_PER_HOST,
  };
}

/** A default above its maximum is a mistake to name at start, not to cut silently. */
function checkTaskLimits(
  c: Record<
    | 'TASKS_DEFAULT_TIMEOUT_S'
    | 'TASKS_MAX_TIMEOUT_S'
    | 'TASKS_DEFAULT_EXPIRY_S'
    | 'TASKS_MAX_EXPIRY_S',
    number
  >,
  ctx: z.RefinementCtx,
) {
  for (const [value, max] of [
    ['TASKS_DEFAULT_TIMEOUT_S', 'TASKS_MAX_TIMEOUT_S'],
    ['TASKS_DEFAULT_EXPIRY_S', 'TASKS_MAX_EXPIRY_S'],
  ] as const) {
    if (c[value] > c[max])
      ctx.addIssue({
        code: 'custom',
        path: [value],
        message: `must not exceed ${max} (${c[max]})`,
      });
  }
}

/** Reads and checks the environment; the error names every bad variable at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FanoutConfig {
  return parseEnv(schema, env, 'fan-out');
}
