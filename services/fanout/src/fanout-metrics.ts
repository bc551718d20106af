import { type DependencyWatch, dependencyMetrics } from '@tripwire/probes';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What the gauges read when scraped: open sockets, topics in use, the resume window. */
export interface FanoutGaugeSources {
  sockets: { readonly size: number };
  router: { readonly size: number };
  replayWindow: { readonly bytes: number };
  /** PostgreSQL's and Redis's watches (tripwire_fanout_dependency_hung). */
  dependencyWatches?: () => readonly DependencyWatch[];
}

export function createFanoutMetrics(sources: FanoutGaugeSources) {
  const registry = new Registry();
  // Node's process_*/nodejs_* under their standard names, so stock Node.js dashboards and
  // alerts find them; the service is a label (docs/operations.md#monitoring).
  collectDefaultMetrics({ register: registry, labels: { service: 'fanout' } });
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({
      name: 'tripwire_fanout_connections',
      help: 'Open WebSocket connections',
      registers,
      collect() {
        this.set(sources.sockets.size);
      },
    }),
    topics: new Gauge({
      name: 'tripwire_fanout_topics',
      help: 'Distinct filter sets (uWebSockets.js topics) in use',
      registers,
      collect() {
        this.set(sources.router.size);
      },
    }),
    historyBytes: new Gauge({
      name: 'tripwire_fanout_history_bytes',
      help: 'Frames held in the resume window, in bytes, against HISTORY_MAX_BYTES',
      registers,
      collect() {
        this.set(sources.replayWindow.bytes);
      },
    }),
    busMessages: new Counter({
      name: 'tripwire_fanout_bus_messages_total',
      help: 'Messages received from Redis, by type',
      labelNames: ['type'] as const,
      registers,
    }),
    ...alertDedupeMetrics(registers),
    duplicatesSkipped: new Counter({
      name: 'tripwire_fanout_duplicates_skipped_total',
      help: 'Alerts and incident changes (same id and revision) seen again on the bus and not sent a second time',
      registers,
    }),
    staleHostMessages: new Counter({
      name: 'tripwire_fanout_stale_host_messages_total',
      help: 'Host changes dropped because a newer one (higher version) of that host was already sent',
      registers,
    }),
    framesSent: new Counter({
      name: 'tripwire_fanout_frames_sent_total',
      help: 'Alert, incident and host frames handed to sockets (live and replayed)',
      registers,
    }),
    slowConsumerCloses: new Counter({
      name: 'tripwire_fanout_slow_consumer_closes_total',
      help: 'Sockets closed because they stopped reading (backpressure limit); their frames were dropped',
      registers,
    }),
    credentialCloses: new Counter({
      name: 'tripwire_fanout_credential_closes_total',
      help: 'Sockets closed 4001 because their credential ended, by kind (session, api_token, jwt) and ending (expired, revoked)',
      labelNames: ['kind', 'ending'] as const,
      registers,
    }),
    credentialRechecks: new Counter({
      name: 'tripwire_fanout_credential_rechecks_total',
      help: 'Completed rechecks of the open WebSockets’ credentials (WS_CREDENTIAL_RECHECK_MS), by outcome (ok, failed: PostgreSQL unreachable)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    clientErrors: new Counter({
      name: 'tripwire_fanout_client_errors_total',
      help: 'Bad client frames and refused requests, by code',
      labelNames: ['code'] as const,
      registers,
    }),
    authFailures: new Counter({
      name: 'tripwire_fanout_auth_failures_total',
      help: 'Refused upgrades and API calls, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    handlerErrors: new Counter({
      name: 'tripwire_fanout_handler_errors_total',
      help: 'Exceptions caught in a uWebSockets.js handler (answered 500, an error frame or close 1011), by handler',
      labelNames: ['handler'] as const,
      registers,
    }),
    ...exportMetrics(registers),
    limitsHit: new Counter({
      name: 'tripwire_fanout_limits_hit_total',
      help: 'Requests refused by an abuse cap, by limit (connections_per_operator, connections_per_address, topics, resumes_per_operator)',
      labelNames: ['limit'] as const,
      registers,
    }),
    oidcSignIns: new Counter({
      name: 'tripwire_fanout_oidc_sign_ins_total',
      help: 'Single sign-on callbacks, by outcome (signed_in, no_role, no_name, bad_state, provider_refused, rejected, provider_unreachable, rate_limited)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    replayPauses: new Counter({
      name: 'tripwire_fanout_replay_pauses_total',
      help: 'Times a resume replay waited for a socket to drain before its next slice',
      registers,
    }),
    resumes: new Counter({
      name: 'tripwire_fanout_resumes_total',
      help: 'Resume requests, by outcome (replayed: from memory, database, unavailable, rate_limited)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    catchUpWaits: new Counter({
      name: 'tripwire_fanout_resume_catch_up_waits_total',
      help: 'Resumes that waited for this node to read up to their position (it was behind)',
      registers,
    }),
    backfillFrames: new Counter({
      name: 'tripwire_fanout_backfill_frames_total',
      help: 'Frames sent to resuming browsers from PostgreSQL, by kind (alert, incident, host)',
      labelNames: ['kind'] as const,
      registers,
    }),
    backfillAborts: new Counter({
      name: 'tripwire_fanout_backfill_aborts_total',
      help: 'Database backfills that stopped early, by reason (query_failed, limit): the browser was told stream_gap',
      labelNames: ['reason'] as const,
      registers,
    }),
    gaps: new Counter({
      name: 'tripwire_fanout_stream_gaps_total',
      help: 'Times the Redis stream lost entries this node had not read, or was reset to a new epoch (clients told to reload)',
      registers,
    }),
    ...dependencyMetrics('tripwire_fanout', registers, sources.dependencyWatches ?? (() => [])),
    deliveryLatency: new Histogram({
      name: 'tripwire_fanout_delivery_latency_seconds',
      help: 'From the Redis append to handing the frame to the sockets',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}

export type FanoutMetrics = ReturnType<typeof createFanoutMetrics>;

/** The alert dedupe window's size and reach (docs/fanout.md#exactly-once), set after each read. */
function alertDedupeMetrics(registers: Registry[]) {
  return {
    dedupeIds: new Gauge({
      name: 'tripwire_fanout_alert_dedupe_ids',
      help: 'Alert ids remembered to drop a second copy (ALERT_DEDUPE_WINDOW_S of stream time)',
      registers,
    }),
    dedupeCovered: new Gauge({
      name: 'tripwire_fanout_alert_dedupe_window_seconds',
      help: 'Stream time the remembered alert ids span: ALERT_DEDUPE_WINDOW_S unless ALERT_DEDUPE_MAX_IDS cut it short',
      registers,
    }),
    dedupeForgottenEarly: new Counter({
      name: 'tripwire_fanout_alert_dedupe_forgotten_early_total',
      help: 'Alert ids forgotten before ALERT_DEDUPE_WINDOW_S because ALERT_DEDUPE_MAX_IDS was reached',
      registers,
    }),
  };
}

/** Exports (exporter.ts): how they ended and how many rows they sent. */
function exportMetrics(registers: Registry[]) {
  return {
    exports: new Counter({
      name: 'tripwire_fanout_exports_total',
      help: 'Exports (GET /api/*/export) that ended, by kind (alerts, incidents, audit) and outcome (completed, aborted: the client went away or a read failed)',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    exportRows: new Counter({
      name: 'tripwire_fanout_export_rows_total',
      help: 'Rows sent in exports, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}
