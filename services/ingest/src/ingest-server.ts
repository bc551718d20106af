import type { Bus, BusPublisher } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { AlertBatcher, Pool } from '@tripwire/storage';
import { type AgentStream, agentStreamLimits } from './agent-stream.js';
import { AlertIntake, createAlertBatcher } from './alert-intake.js';
import { createAlertService } from './alert-service.js';
import { createBusPublishers } from './bus-publishers.js';
import type { IngestConfig } from './config.js';
import { createControlFeed } from './control-feed.js';
import { DependencyHealth } from './dependency-health.js';
import { createGrpcServer } from './grpc-server.js';
import { createHandlerGuard } from './handler-guard.js';
import { HostLiveness } from './host-liveness.js';
import { HostStreamSlots } from './host-stream-slots.js';
import { IncidentAnnouncer } from './incident-announcer.js';
import { createIncidentService, operatorAuthFrom } from './incident-service.js';
import { IncidentStreams } from './incident-streams.js';
import { createIngestMetrics } from './ingest-metrics.js';
import { createIngestProbes } from './ingest-probes.js';
import type { InstanceLifeline } from './instance-lifeline.js';
import { createPartitionUpkeep } from './partition-upkeep.js';
import { PublishConfirmations } from './publish-confirmations.js';
import { PublishMarks } from './publish-marks.js';
import { createRegisterRateLimit } from './register-rate-limit.js';
import { RepublishSweep } from './republish-sweep.js';
import { shutDownIngest } from './shutdown-sequence.js';
import { StreamLocator } from './stream-locator.js';
import { SuppressionCache } from './suppression-cache.js';
import { createSuppressionHitRollup } from './suppression-hit-rollup.js';
import { createTaskManager, createTaskServices } from './task-assembly.js';

export interface IngestDeps {
  config: IngestConfig;
  pool: Pool;
  /** Publishes alerts and host changes, follows rule changes: redisBus(…) or createMemoryBus(). */
  bus: Bus;
  log: Logger;
  /**
   * This process's registration as an ingest instance (run-ingest.ts; `pool` stamps its id on
   * what it stores): with it, the instance sweeps dead ones (RepublishSweep) and is swept if it
   * dies. Without it (tests that build the server in-process), neither.
   */
  lifeline?: InstanceLifeline;
}

export interface IngestServer {
  /** Binds both ports; resolves with the ports actually bound (tests use port 0). */
  start(): Promise<{ grpcPort: number; httpPort: number }>;
  /** Graceful: refuse new calls, let received alerts commit and be acknowledged, end streams, flush the bus. */
  stop(): Promise<void>;
  metrics: ReturnType<typeof createIngestMetrics>;
  /** This process's id in hosts.stream_instance (a fresh UUID per process). */
  instanceId: string;
}

/** Longest an acknowledgement waits for its alerts' publish (Redis slow but not failing). */
const PUBLISH_ACK_WAIT_MS = 2_000;

/** Assembles the ingest service from its parts; each part's file says what it does. */
export function createIngestServer({ config, pool, bus, log, lifeline }: IngestDeps): IngestServer {
  const metrics = createIngestMetrics({
    pendingAlerts: () => batcher.pending,
    pendingAlertBytes: () => batcher.pendingBytes,
    publishBacklog: () => publishers.events.backlog,
    publishBacklogBytes: () => publishers.events.backlogBytes,
    incidentStreams: () => incidentStreams.size,
    taskStreams: () => tasks.size,
    dependencyWatches: () => health.all,
  });
  const agentStreams = new Set<AgentStream>();
  // A hung PostgreSQL or Redis: agents are sent elsewhere until it answers (dependency-health.ts).
  const health = new DependencyHealth({
    ...{ config, pool, metrics, log, agentStreams },
    redisLastReadAt: () => controlFeed.lastReadAt,
    pendingAlerts: () => batcher.pending,
    setServing: (serving) => grpc.setServing(serving && !draining && !health.hang),
  });
  // Acks wait for the publish too: see PublishConfirmations.
  const confirmations = new PublishConfirmations(PUBLISH_ACK_WAIT_MS, health.confirmationExpired);
  const batcher = createAlertBatcher(pool, config, metrics, (incidents, error) => {
    health.flushed(error);
    announcer.afterFlush(incidents);
  });
  // Published alerts are marked in the ledger, so a resend republishes only what never got out.
  const marks = new PublishMarks(pool, metrics, log);
  const publishers = createBusPublishers({
    ...{ bus, config, metrics, log },
    ...{ confirmations, health, marks },
  });
  const announcer = new IncidentAnnouncer(
    pool,
    [publishers.events, publishers.control],
    log,
    () => metrics.incidentAnnouncementFailures.inc(),
    () => intake.published(),
  );
  const liveness = new HostLiveness(pool, publishers.events, log, {
    heartbeatMs: config.HOST_HEARTBEAT_MS,
    leaseMs: config.HOST_LEASE_MS,
    sweepMs: config.HOST_SWEEP_MS,
  });
  const suppressions = new SuppressionCache(pool, metrics, log);
  const hitRollup = createSuppressionHitRollup(pool, log);
  const { intake, sweep } = publishPath({
    ...{ config, pool, bus, log, lifeline, metrics, suppressions },
    ...{ batcher, marks, confirmations, publisher: publishers.events },
  });
  const guard = createHandlerGuard(metrics, log);
  const incidentStreams = new IncidentStreams(pool, log, {
    guard,
    metrics,
    maxBufferedBytes: config.INCIDENT_STREAM_MAX_BUFFERED_BYTES,
  });
  const keyPrefix = config.BUS_KEY_PREFIX;
  const feedParts = { bus, keyPrefix, agentStreams, incidentStreams, suppressions, log };
  const controlFeed = createControlFeed({
    ...feedParts,
    onReadFailed: (err) => health.failed('redis', 'xread', err),
  });
  let draining = false;
  const isDraining = () => draining;
  const taskDeps = { pool, log, metrics, guard, instanceId: liveness.instanceId };
  const tasks = createTaskManager(config, { ...taskDeps, publisher: publishers.events });
  const operatorAuth = operatorAuthFrom(config, pool, log);

  const grpc = createGrpcServer(config, {
    alerts: alertServiceFor(config, {
      ...{ pool, intake, liveness, metrics, log, guard, isDraining },
      streams: agentStreams,
      hang: () => health.hang,
      batcher,
    }),
    incidents: createIncidentService({
      ...{ pool, operatorAuth, announcer, metrics, guard, log, isDraining },
      streams: incidentStreams,
    }),
    ...createTaskServices({
      ...{ config, pool, operatorAuth, metrics, guard, log, isDraining },
      manager: tasks,
    }),
  });
  const probes = createIngestProbes({ config, pool, bus, metrics, isDraining, health });
  const partitionUpkeep = createPartitionUpkeep(pool, config, log);

  return {
    metrics,
    instanceId: liveness.instanceId,
    async start() {
      const grpcPort = await grpc.bind();
      const httpPort = await probes.start();
      await partitionUpkeep.start();
      // Follow the control stream first, so no change announced during the load is missed.
      controlFeed.start();
      await suppressions.start();
      hitRollup.start();
      liveness.start();
      tasks.start();
      sweep?.start();
      grpc.setServing(true);
      const tls = Boolean(config.GRPC_TLS_CERT_FILE);
      const mtls = Boolean(config.GRPC_TLS_CLIENT_CA_FILE);
      const { instanceId } = liveness;
      log.info({ grpcPort, httpPort, instanceId, tls, mtls }, 'ingest service listening');
      return { grpcPort, httpPort };
    },
    async stop() {
      if (draining) return;
      draining = true;
      suppressions.stop();
      hitRollup.stop();
      await shutDownIngest({
        grpc,
        partitionUpkeep,
        agentStreams,
        incidentStreams,
        tasks,
        batcher,
        liveness,
        announcer,
        publishers,
        marks,
        sweep,
        lifeline,
        controlFeed,
        probes,
        log,
        graceMs: config.SHUTDOWN_GRACE_MS,
        announcementWaitMs: PUBLISH_ACK_WAIT_MS,
      });
      health.stop();
    },
  };
}

/**
 * The intake (store, then publish) and, for a registered instance, the republish sweep; both look
 * for an unmarked alert in the stream before publishing it again (stream-locator.ts).
 */
function publishPath(
  parts: Omit<IngestDeps, 'lifeline'> & {
    lifeline: InstanceLifeline | undefined;
    metrics: IngestServer['metrics'];
    batcher: AlertBatcher;
    marks: PublishMarks;
    confirmations: PublishConfirmations;
    publisher: BusPublisher;
    suppressions: SuppressionCache;
  },
) {
  const { config, pool, bus, log, lifeline, metrics, batcher, marks, confirmations, publisher } =
    parts;
  const locator = new StreamLocator(bus, config.BUS_KEY_PREFIX, pool, metrics);
  const intake = new AlertIntake(
    batcher,
    publisher,
    metrics,
    marks,
    parts.suppressions,
    confirmations,
    locator,
  );
  const sweep =
    lifeline &&
    new RepublishSweep({ lifeline, pool, marks, metrics, log, config, locator, publisher });
  return { intake, sweep };
}

/** The agents' AlertService, with the limits and enrollment rules of the config. */
function alertServiceFor(
  config: IngestConfig,
  parts: Pick<
    Parameters<typeof createAlertService>[0],
    'pool' | 'intake' | 'liveness' | 'metrics' | 'log' | 'guard' | 'isDraining' | 'streams' | 'hang'
  > & { batcher: AlertBatcher },
) {
  const { batcher, ...rest } = parts;
  // Every open agent stream listens for 'drain' (and stops when it ends): thousands of
  // listeners is a normal fleet, not the leak Node's default limit of 10 would warn about.
  batcher.setMaxListeners(0);
  return createAlertService({
    ...rest,
    db: parts.pool,
    streamSlots: new HostStreamSlots(config.MAX_STREAMS_PER_HOST),
    registerRateLimit: createRegisterRateLimit(config.REGISTER_RATE_LIMIT_PER_MINUTE),
    enrollmentToken: config.ENROLLMENT_TOKEN,
    enrollment: {
      pendingTtlS: config.ENROLLMENT_PENDING_TTL_S,
      maxPendingPerHost: config.ENROLLMENT_MAX_PENDING_PER_HOST,
      trustClientCertificates: Boolean(config.GRPC_TLS_CLIENT_CA_FILE),
    },
    onStorageDrain: (listener) => {
      batcher.on('drain', listener);
      return () => batcher.off('drain', listener);
    },
    limits: agentStreamLimits(config),
  });
}
