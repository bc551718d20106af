import { setTimeout as sleep } from 'node:timers/promises';
import { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { Bus } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { createOperatorAuth } from '@tripwire/operator-auth';
import { createProbeServer } from '@tripwire/probes';
import {
  AlertServiceService,
  IncidentServiceService,
  reflectionPackageDefinition,
} from '@tripwire/proto';
import {
  AlertBatcher,
  dropAlertPartitionsBefore,
  ensureAlertPartitions,
  type Pool,
  pingDatabase,
} from '@tripwire/storage';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { AgentStream } from './agent-stream.js';
import { AlertIntake } from './alert-intake.js';
import { createAlertService } from './alert-service.js';
import type { IngestConfig } from './config.js';
import { serverCredentials } from './grpc-credentials.js';
import { HostLiveness } from './host-liveness.js';
import { IncidentAnnouncer } from './incident-announcer.js';
import { createIncidentService } from './incident-service.js';
import { IncidentStreams } from './incident-streams.js';
import { createIngestMetrics } from './ingest-metrics.js';
import { tolerateMalformedRequests } from './malformed-message.js';
import { PublishConfirmations } from './publish-confirmations.js';

export interface IngestDeps {
  config: IngestConfig;
  pool: Pool;
  /** Publishes alerts and host changes, follows rule changes: redisBus(…) or createMemoryBus(). */
  bus: Bus;
  log: Logger;
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

const SERVICE_NAME = 'tripwire.v1.AlertService';
const INCIDENT_SERVICE_NAME = 'tripwire.v1.IncidentService';
/** Longest an acknowledgement waits for its alerts' publish (Redis slow but not failing). */
const PUBLISH_ACK_WAIT_MS = 2_000;
const PARTITION_UPKEEP_MS = 3_600_000;

export function createIngestServer({ config, pool, bus, log }: IngestDeps): IngestServer {
  const metrics = createIngestMetrics({
    pendingAlerts: () => batcher.pending,
    publishBacklog: () => publisher.backlog,
  });
  // Acks wait for the publish too: see PublishConfirmations.
  const confirmations = new PublishConfirmations(PUBLISH_ACK_WAIT_MS);
  const batcher = new AlertBatcher({
    db: pool,
    maxBatchSize: config.BATCH_MAX_SIZE,
    maxDelayMs: config.BATCH_MAX_DELAY_MS,
    highWaterMark: config.INGEST_MAX_PENDING,
    maxConcurrentFlushes: config.BATCH_MAX_CONCURRENT,
    incidentWindowS: config.INCIDENT_WINDOW_S,
    onFlush: ({ size, durationMs, error, incidents }) => {
      metrics.batchSize.observe(size);
      metrics.flushDuration.observe(durationMs / 1000);
      if (error) metrics.flushFailures.inc();
      incidentAnnouncer.afterFlush(incidents);
    },
  });
  const publisher = bus.publisher({
    keyPrefix: config.BUS_KEY_PREFIX,
    historyMaxLength: config.BUS_HISTORY_MAX_LENGTH,
    maxBacklog: config.BUS_MAX_BACKLOG,
    onPublished: (n) => {
      metrics.published.inc(n);
      confirmations.published(n);
    },
    onDropped: (n) => {
      confirmations.dropped(n);
      metrics.publishDropped.inc(n);
      log.error(
        { dropped: n },
        'publish backlog full while Redis is down: dropped messages, a gap will be published',
      );
    },
    onError: (err) => {
      confirmations.failed();
      metrics.publishFailures.inc();
      log.warn(
        { err: err.message, backlog: publisher.backlog },
        'publishing to Redis failed; will retry',
      );
    },
  });
  // Incident messages go on the control stream too: StreamIncidents follows it, never the alerts.
  const controlPublisher = bus.publisher({
    keyPrefix: config.BUS_KEY_PREFIX,
    stream: 'control',
    historyMaxLength: config.BUS_HISTORY_MAX_LENGTH,
    maxBacklog: config.BUS_MAX_BACKLOG,
    onDropped: (n) => {
      metrics.publishDropped.inc(n);
      log.error(
        { dropped: n, stream: 'control' },
        'control publish backlog full: dropped messages',
      );
    },
    onError: (err) => {
      metrics.publishFailures.inc();
      log.warn({ err: err.message, stream: 'control' }, 'publishing to Redis failed; will retry');
    },
  });
  const incidentAnnouncer = new IncidentAnnouncer(
    pool,
    [publisher, controlPublisher],
    log,
    () => metrics.incidentAnnouncementFailures.inc(),
    () => intake.published(),
  );

  const liveness = new HostLiveness(pool, publisher, log, {
    heartbeatMs: config.HOST_HEARTBEAT_MS,
    leaseMs: config.HOST_LEASE_MS,
    sweepMs: config.HOST_SWEEP_MS,
  });
  const incidentStreams = new IncidentStreams(pool, log);
  // Operators change rules through the fan-out API, which announces them on the bus's control
  // stream (not the alert stream, so this never reads alerts); push the new rule set to that
  // host's connected agents (every agent, for a global rule). Incident changes, from every
  // ingest instance and the fan-out, arrive there too, for StreamIncidents.
  const controlFeed = bus.subscriber({
    keyPrefix: config.BUS_KEY_PREFIX,
    stream: 'control',
    from: 'latest',
    onEntries: (entries) => {
      for (const { message } of entries) {
        if (message.type === 'incident') incidentStreams.deliver(message.data);
        if (message.type !== 'rules') continue;
        for (const stream of streams) {
          if (message.data.host_id === null || message.data.host_id === stream.hostId)
            stream.refreshRules();
        }
      }
    },
    onError: (err) =>
      log.warn({ err: err.message }, 'following the control stream failed; retrying'),
  });
  const intake = new AlertIntake(batcher, publisher, metrics, confirmations);
  const streams = new Set<AgentStream>();
  let draining = false;

  const grpcServer = new Server({
    // Server pings find dead agents within ~40 s; grpc-js servers never answer
    // client pings with too_many_pings, so agent keepalives of 10 s+ are safe.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': config.GRPC_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': config.GRPC_MAX_MESSAGE_BYTES,
  });
  grpcServer.addService(
    tolerateMalformedRequests(AlertServiceService, 'tripwire.v1'),
    createAlertService({
      pool,
      db: pool,
      intake,
      liveness,
      metrics,
      log,
      streams,
      enrollmentToken: config.ENROLLMENT_TOKEN,
      isDraining: () => draining,
      onStorageDrain: (listener) => {
        batcher.on('drain', listener);
        return () => batcher.off('drain', listener);
      },
      limits: {
        maxEventDetailBytes: config.MAX_EVENT_DETAIL_BYTES,
        maxFutureSkewMs: config.MAX_FUTURE_SKEW_MS,
        maxUnacked: config.STREAM_MAX_UNACKED,
        maxEventsPerBatch: config.MAX_EVENTS_PER_BATCH,
        pingIntervalMs: config.PING_INTERVAL_MS,
      },
    }),
  );
  if (!config.OPERATOR_JWT_SECRET) {
    log.warn(
      'OPERATOR_JWT_SECRET is not set: IncidentService refuses every call (UNAUTHENTICATED)',
    );
  }
  grpcServer.addService(
    tolerateMalformedRequests(IncidentServiceService, 'tripwire.v1'),
    createIncidentService({
      pool,
      operatorAuth: config.OPERATOR_JWT_SECRET
        ? createOperatorAuth(config.OPERATOR_JWT_SECRET)
        : undefined,
      announcer: incidentAnnouncer,
      streams: incidentStreams,
      metrics,
      log,
      isDraining: () => draining,
    }),
  );
  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    [SERVICE_NAME]: 'NOT_SERVING',
    [INCIDENT_SERVICE_NAME]: 'NOT_SERVING',
  });
  health.addToServer(grpcServer);
  new ReflectionService(reflectionPackageDefinition([healthProtoPath])).addToServer(grpcServer);

  const probes = createProbeServer({
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    registry: metrics.registry,
    readiness: async () => {
      const database = await pingDatabase(pool);
      return {
        ready: database && !draining,
        checks: { database, redis: bus.status(), draining },
      };
    },
  });

  let upkeepTimer: NodeJS.Timeout | undefined;
  const partitionUpkeep = async () => {
    try {
      await ensureAlertPartitions(pool, config.PARTITION_MONTHS_AHEAD);
      if (config.ALERT_RETENTION_MONTHS > 0) {
        const now = new Date();
        const cutoff = new Date(
          Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - config.ALERT_RETENTION_MONTHS, 1),
        );
        const dropped = await dropAlertPartitionsBefore(pool, cutoff);
        if (dropped.length) log.info({ dropped }, 'retention dropped old alert partitions');
      }
    } catch (err) {
      log.warn({ err }, 'partition upkeep failed; will retry next hour');
    }
  };

  const setServing = (serving: boolean) => {
    for (const name of ['', SERVICE_NAME, INCIDENT_SERVICE_NAME])
      health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
  };

  return {
    metrics,
    instanceId: liveness.instanceId,
    async start() {
      const grpcPort = await new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(
          `${config.GRPC_HOST}:${config.GRPC_PORT}`,
          serverCredentials(config),
          (err, port) => (err ? reject(err) : resolve(port)),
        );
      });
      const httpPort = await probes.start();
      await partitionUpkeep();
      upkeepTimer = setInterval(partitionUpkeep, PARTITION_UPKEEP_MS);
      upkeepTimer.unref();
      controlFeed.start();
      liveness.start();
      setServing(true);
      log.info(
        {
          grpcPort,
          httpPort,
          instanceId: liveness.instanceId,
          tls: Boolean(config.GRPC_TLS_CERT_FILE),
          mtls: Boolean(config.GRPC_TLS_CLIENT_CA_FILE),
        },
        'ingest service listening',
      );
      return { grpcPort, httpPort };
    },

    async stop() {
      if (draining) return;
      draining = true;
      setServing(false);
      clearInterval(upkeepTimer);
      log.info(
        { streams: streams.size, incidentStreams: incidentStreams.size },
        'draining: finishing open streams',
      );
      incidentStreams.endAll();
      // tryShutdown refuses new calls at once and calls back when every open call has ended.
      const shutdown = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
      const graceful = (async () => {
        await Promise.all([...streams].map((s) => s.drain()));
        await batcher.flush();
        await liveness.settle();
        await shutdown;
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), config.SHUTDOWN_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        log.warn('shutdown grace period over; cancelling remaining calls');
        grpcServer.forceShutdown();
        await batcher.flush().catch(() => {});
      }
      // The last flushes' incident messages, unless PostgreSQL stopped answering.
      await Promise.race([
        incidentAnnouncer.settled(),
        sleep(PUBLISH_ACK_WAIT_MS, undefined, { ref: false }),
      ]);
      if (!(await publisher.drain(Math.min(5_000, config.SHUTDOWN_GRACE_MS)))) {
        log.warn(
          { backlog: publisher.backlog },
          'Redis unreachable at shutdown: unpublished alerts are stored in PostgreSQL',
        );
      }
      liveness.stop();
      await controlPublisher.drain(1_000);
      publisher.close();
      controlPublisher.close();
      await controlFeed.stop();
      await probes.stop();
      log.info('ingest service stopped');
    },
  };
}
