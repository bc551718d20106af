import { type DependencyWatch, dependencyMetrics } from '@tripwire/probes';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { taskMetrics } from './task-metrics.js';

export interface GaugeSources {
  pendingAlerts: () => number;
  pendingAlertBytes: () => number;
  publishBacklog: () => number;
  publishBacklogBytes: () => number;
  incidentStreams: () => number;
  /** PostgreSQL's and Redis's watches (tripwire_ingest_dependency_hung). */
  dependencyWatches: () => readonly DependencyWatch[];
  taskStreams: () => number;
}

/** Every metric the ingest service exports, on a registry of its own (so tests can run several). */
export function createIngestMetrics(sources: GaugeSources) {
  const registry = new Registry();
  // Node's process_*/nodejs_* under their standard names, so stock Node.js dashboards and
  // alerts find them; the service is a label (docs/operations.md#monitoring).
  collectDefaultMetrics({ register: registry, labels: { service: 'ingest' } });
  const registers = [registry];
  return {
    registry,
    alertsReceived: new Counter({
      name: 'tripwire_ingest_alerts_received_total',
      help: 'Alerts received from agents, before validation',
      labelNames: ['method'] as const,
      registers,
    }),
    alertsStored: new Counter({
      name: 'tripwire_ingest_alerts_stored_total',
      help: 'Alerts newly committed to PostgreSQL',
      registers,
    }),
    alertsSuppressed: new Counter({
      name: 'tripwire_ingest_alerts_suppressed_total',
      help: 'Alerts a suppression muted (stored and acknowledged, in no incident)',
      registers,
    }),
    suppressionsActive: new Gauge({
      name: 'tripwire_ingest_suppressions_active',
      help: 'Suppressions in the cache ingest matches alerts against',
      registers,
    }),
    suppressionReloadFailures: new Counter({
      name: 'tripwire_ingest_suppression_reload_failures_total',
      help: 'Reloads of the suppressions that failed (the last copy stays in use)',
      registers,
    }),
    alertsDuplicate: new Counter({
      name: 'tripwire_ingest_alerts_duplicate_total',
      help: 'Alerts acknowledged as already stored (resends); not stored or published again',
      registers,
    }),
    alertsRejected: new Counter({
      name: 'tripwire_ingest_alerts_rejected_total',
      help: 'Alerts refused by validation, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    callsRefused: new Counter({
      name: 'tripwire_ingest_calls_refused_total',
      help: 'Calls ended with an error status, by reason (bad token, database down, bad stream, ...)',
      labelNames: ['method', 'reason'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'tripwire_ingest_batch_size',
      help: 'Alerts per PostgreSQL flush',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    }),
    flushDuration: new Histogram({
      name: 'tripwire_ingest_flush_duration_seconds',
      help: 'Time to commit one batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    ackLatency: new Histogram({
      name: 'tripwire_ingest_ack_latency_seconds',
      help: 'From a batch of valid alerts reaching the intake to the moment it may be acknowledged (committed and, with confirmations, on the bus)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    flushFailures: new Counter({
      name: 'tripwire_ingest_flush_failures_total',
      help: 'Batches PostgreSQL refused or could not take; their alerts were not acknowledged',
      registers,
    }),
    pendingAlerts: new Gauge({
      name: 'tripwire_ingest_pending_alerts',
      help: 'Alerts waiting for or in a PostgreSQL flush',
      registers,
      collect() {
        this.set(sources.pendingAlerts());
      },
    }),
    pendingAlertBytes: new Gauge({
      name: 'tripwire_ingest_pending_alerts_bytes',
      help: 'Their size (event detail + 256 bytes each), against INGEST_MAX_PENDING_BYTES',
      registers,
      collect() {
        this.set(sources.pendingAlertBytes());
      },
    }),
    agentPingRtt: new Histogram({
      name: 'tripwire_ingest_agent_ping_rtt_seconds',
      help: 'Time from a Ping sent on an agent stream to the agent answering it (pong_server_time_us)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    flowControlPauses: new Counter({
      name: 'tripwire_ingest_flow_control_pauses_total',
      help: 'Times a stream stopped being read because storage was behind',
      registers,
    }),
    connectedAgents: new Gauge({
      name: 'tripwire_ingest_connected_agents',
      help: 'Open alert streams',
      registers,
    }),
    published: new Counter({
      name: 'tripwire_ingest_bus_published_total',
      help: 'Messages appended to the Redis event stream',
      registers,
    }),
    publishFailures: new Counter({
      name: 'tripwire_ingest_bus_publish_failures_total',
      help: 'Failed attempts to append to Redis (retried)',
      registers,
    }),
    publishDropped: new Counter({
      name: 'tripwire_ingest_bus_dropped_total',
      help: 'Messages dropped because the publish backlog overflowed while Redis was down (a gap is published)',
      registers,
    }),
    ...incidentAndLimitMetrics(registers),
    ...dependencyMetrics('tripwire_ingest', registers, sources.dependencyWatches),
    ...publishLedgerMetrics(registers),
    ...taskMetrics(registers, sources.taskStreams),
    publishBacklog: new Gauge({
      name: 'tripwire_ingest_bus_backlog',
      help: 'Committed messages waiting to be published to Redis',
      registers,
      collect() {
        this.set(sources.publishBacklog());
      },
    }),
    publishBacklogBytes: new Gauge({
      name: 'tripwire_ingest_bus_backlog_bytes',
      help: 'Their size in bytes of message JSON, against BUS_MAX_BACKLOG_BYTES',
      registers,
      collect() {
        this.set(sources.publishBacklogBytes());
      },
    }),
    incidentStreams: new Gauge({
      name: 'tripwire_ingest_incident_streams',
      help: 'Open StreamIncidents calls',
      registers,
      collect() {
        this.set(sources.incidentStreams());
      },
    }),
  };
}

/** The ledger's published marks (PublishMarks) and the resends they decide (AlertIntake). */
function publishLedgerMetrics(registers: Registry[]) {
  return {
    publishMarks: new Counter({
      name: 'tripwire_ingest_publish_marks_total',
      help: 'Alerts marked published in the idempotency ledger after Redis confirmed their append',
      registers,
    }),
    publishMarkDuration: new Histogram({
      name: 'tripwire_ingest_publish_mark_duration_seconds',
      help: 'Time of one ledger UPDATE marking published alerts (one per confirmed chunk or several)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    publishMarkFailures: new Counter({
      name: 'tripwire_ingest_publish_mark_failures_total',
      help: 'Ledger UPDATEs that failed (retried with backoff)',
      registers,
    }),
    publishMarksDropped: new Counter({
      name: 'tripwire_ingest_publish_marks_dropped_total',
      help: 'Published alerts never marked (PostgreSQL failing longer than the pending marks last, or at shutdown): a resend of one is published again',
      registers,
    }),
    resendsRepublished: new Counter({
      name: 'tripwire_ingest_resends_republished_total',
      help: 'Resent alerts published again because the ledger does not mark them published',
      registers,
    }),
    sweepRepublished: new Counter({
      name: 'tripwire_ingest_sweep_republished_total',
      help: 'Alerts a dead ingest instance stored and never got on the bus, published again by the republish sweep',
      registers,
    }),
    foundOnBus: new Counter({
      name: 'tripwire_ingest_unmarked_found_on_bus_total',
      help: 'Unmarked alerts about to be published again (a resend, the republish sweep) found in the stream already: marked where they are, not republished',
      registers,
    }),
    sweepBeforeReset: new Counter({
      name: 'tripwire_ingest_sweep_before_reset_total',
      help: "Unmarked alerts of a dead instance stored before the stream's current epoch began (Redis lost its data since): not republished, browsers resume them from PostgreSQL",
      registers,
    }),
    sweepScanned: new Counter({
      name: 'tripwire_ingest_sweep_rows_scanned_total',
      help: "Ledger rows the republish sweep looked at in dead instances' spans",
      registers,
    }),
    sweepInstances: new Counter({
      name: 'tripwire_ingest_sweep_instances_total',
      help: 'Dead ingest instances whose sweep finished (their registry row removed)',
      registers,
    }),
    sweepFailures: new Counter({
      name: 'tripwire_ingest_sweep_failures_total',
      help: 'Sweep rounds that stopped early: PostgreSQL failed, or a republished page was not confirmed by Redis (retried next round)',
      registers,
    }),
  };
}

/** IncidentService, handler faults, what was clipped or flagged, limits hit, enrollments. */
function incidentAndLimitMetrics(registers: Registry[]) {
  return {
    incidentRequests: new Counter({
      name: 'tripwire_ingest_incident_requests_total',
      help: 'IncidentService calls by method and status code (OK, INVALID_ARGUMENT, UNAUTHENTICATED, ...)',
      labelNames: ['method', 'code'] as const,
      registers,
    }),
    incidentAnnouncementFailures: new Counter({
      name: 'tripwire_ingest_incident_announcement_failures_total',
      help: 'Flushes whose incidents could not be read back for their bus messages (not published)',
      registers,
    }),
    handlerErrors: new Counter({
      name: 'tripwire_ingest_handler_errors_total',
      help: 'Unexpected exceptions in a gRPC handler or call callback, answered INTERNAL (the process lives on)',
      labelNames: ['handler'] as const,
      registers,
    }),
    alertsClipped: new Counter({
      name: 'tripwire_ingest_alerts_clipped_total',
      help: 'Alerts stored with event_detail clipped to MAX_EVENT_DETAIL_BYTES (marked "truncated")',
      registers,
    }),
    clockSkewAlerts: new Counter({
      name: 'tripwire_ingest_clock_skew_alerts_total',
      help: 'Alerts more than MAX_FUTURE_SKEW_MS ahead of the server, stored at receive time and flagged clock_skew_us',
      registers,
    }),
    limitsHit: new Counter({
      name: 'tripwire_ingest_limits_hit_total',
      help: 'Calls refused or cut off by a gRPC limit (streams_per_host, register_rate, pending_enrollments, agent_stream_budget, incident_stream_budget, task_stream_budget, task_stream_rate, task_chunks, task_watchers)',
      labelNames: ['limit'] as const,
      registers,
    }),
    enrollments: new Counter({
      name: 'tripwire_ingest_enrollments_total',
      help: 'RegisterAgent outcomes: new, rotated (current agent token), certificate, approval, pending (refused: waiting for an admin, denied, or no proof)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    reEnrollmentAlertFailures: new Counter({
      name: 'tripwire_ingest_re_enrollment_alert_failures_total',
      help: 'Re-enrollments refused UNAVAILABLE because their tripwire.re-enrollment alert could not be stored',
      registers,
    }),
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
