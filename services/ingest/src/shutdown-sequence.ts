import { setTimeout as sleep } from 'node:timers/promises';
import type { BusSubscriber } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { ProbeServer } from '@tripwire/probes';
import type { AlertBatcher } from '@tripwire/storage';
import type { AgentStream } from './agent-stream.js';
import type { BusPublishers } from './bus-publishers.js';
import type { IngestGrpcServer } from './grpc-server.js';
import type { HostLiveness } from './host-liveness.js';
import type { IncidentAnnouncer } from './incident-announcer.js';
import type { IncidentStreams } from './incident-streams.js';
import type { InstanceLifeline } from './instance-lifeline.js';
import type { PartitionUpkeep } from './partition-upkeep.js';
import type { PublishMarks } from './publish-marks.js';
import type { RepublishSweep } from './republish-sweep.js';
import type { TaskManager } from './task-manager.js';

/** Everything the ingest service stops, in the order of shutDownIngest. */
export interface ShutdownParts {
  grpc: IngestGrpcServer;
  partitionUpkeep: PartitionUpkeep;
  agentStreams: ReadonlySet<AgentStream>;
  incidentStreams: IncidentStreams;
  /** Task streams and WatchTask calls end at once: agents reconnect to another instance. */
  tasks: TaskManager;
  batcher: AlertBatcher;
  liveness: HostLiveness;
  announcer: IncidentAnnouncer;
  publishers: BusPublishers;
  marks: PublishMarks;
  sweep: RepublishSweep | undefined;
  lifeline: InstanceLifeline | undefined;
  controlFeed: BusSubscriber;
  probes: ProbeServer;
  log: Logger;
  /** SHUTDOWN_GRACE_MS: how long open calls get to finish before they are cancelled. */
  graceMs: number;
  /** Longest the last incident messages are waited for (PostgreSQL slow but not failing). */
  announcementWaitMs: number;
}

/**
 * Graceful stop: refuse new calls, let received alerts commit and be acknowledged, end
 * streams, flush the bus. Each step relies on the ones before it.
 */
export async function shutDownIngest(parts: ShutdownParts): Promise<void> {
  const { log } = parts;
  parts.grpc.setServing(false);
  parts.partitionUpkeep.stop();
  log.info(
    { streams: parts.agentStreams.size, incidentStreams: parts.incidentStreams.size },
    'draining: finishing open streams',
  );
  parts.incidentStreams.endAll();
  parts.tasks.stop();
  await parts.sweep?.stop();
  await finishOpenCallsWithinGrace(parts);
  // The last flushes' incident messages, unless PostgreSQL stopped answering.
  await Promise.race([
    parts.announcer.settled(),
    sleep(parts.announcementWaitMs, undefined, { ref: false }),
  ]);
  await drainEventPublisher(parts);
  // While the pool is open: an unmarked alert would be published again on a resend.
  await parts.marks.settle(parts.announcementWaitMs);
  // Nothing left unpublished: no sweep needed. Otherwise a survivor republishes it.
  await parts.lifeline?.stop(parts.publishers.events.backlog === 0);
  parts.liveness.stop();
  await parts.publishers.control.drain(1_000);
  parts.publishers.events.close();
  parts.publishers.control.close();
  await parts.controlFeed.stop();
  await parts.probes.stop();
  log.info('ingest service stopped');
}

/**
 * Agent streams drain (their received alerts commit and are acknowledged), the batcher
 * flushes, host status writes settle and every call ends; past the grace period the calls
 * still open are cancelled and what they left is flushed.
 */
async function finishOpenCallsWithinGrace(parts: ShutdownParts): Promise<void> {
  const { grpc, batcher } = parts;
  // tryShutdown refuses new calls at once and calls back when every open call has ended.
  const shutdown = new Promise<void>((resolve) => grpc.server.tryShutdown(() => resolve()));
  const graceful = (async () => {
    await Promise.all([...parts.agentStreams].map((s) => s.drain()));
    await batcher.flush();
    await parts.liveness.settle();
    await shutdown;
  })();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    graceful.then(() => false),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(true), parts.graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    parts.log.warn('shutdown grace period over; cancelling remaining calls');
    grpc.server.forceShutdown();
    await batcher.flush().catch(() => {});
  }
}

/** Alerts already stored but not yet on Redis stay in PostgreSQL; say so when Redis is gone. */
async function drainEventPublisher({ publishers, graceMs, log }: ShutdownParts): Promise<void> {
  if (!(await publishers.events.drain(Math.min(5_000, graceMs)))) {
    log.warn(
      { backlog: publishers.events.backlog },
      'Redis unreachable at shutdown: unpublished alerts are stored in PostgreSQL',
    );
  }
}
