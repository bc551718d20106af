import type { Bus, BusPublisher, BusStream } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { IngestConfig } from './config.js';
import type { DependencyHealth } from './dependency-health.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { PublishConfirmations } from './publish-confirmations.js';
import type { PublishMarks } from './publish-marks.js';

export interface BusPublishersDeps {
  bus: Bus;
  config: Pick<
    IngestConfig,
    | 'BUS_KEY_PREFIX'
    | 'BUS_HISTORY_MAX_LENGTH'
    | 'BUS_MAX_BACKLOG'
    | 'BUS_MAX_BACKLOG_BYTES'
    | 'BUS_MAX_ENTRY_BYTES'
  >;
  metrics: IngestMetrics;
  log: Logger;
  /** Fed by the event stream's publisher: acks wait for the publish too (see PublishConfirmations). */
  confirmations: PublishConfirmations;
  /** Told of every publish that landed and every one Redis did not answer in time. */
  health: Pick<DependencyHealth, 'redis' | 'failed'>;
  /** Also fed by the event stream's publisher: published alerts are marked in the ledger. */
  marks: PublishMarks;
}

export interface BusPublishers {
  /** Alerts, host changes and incident messages, for the fan-out. */
  events: BusPublisher;
  /** Incident messages go on the control stream too: StreamIncidents follows it, never the alerts. */
  control: BusPublisher;
}

const DROPPED_MESSAGE: Record<BusStream, string> = {
  events: 'publish backlog full while Redis is down: dropped messages, a gap will be published',
  control: 'control publish backlog full: dropped messages',
};

/** The ingest service's two publishers, each counting and logging what it publishes, drops and retries. */
export function createBusPublishers({
  bus,
  config,
  metrics,
  log,
  confirmations,
  health,
  marks,
}: BusPublishersDeps): BusPublishers {
  const publisherFor = (
    stream: BusStream,
    fed?: PublishConfirmations,
    marked?: PublishMarks,
  ): BusPublisher => {
    const publisher = bus.publisher({
      keyPrefix: config.BUS_KEY_PREFIX,
      stream,
      historyMaxLength: config.BUS_HISTORY_MAX_LENGTH,
      maxBacklog: config.BUS_MAX_BACKLOG,
      maxBacklogBytes: config.BUS_MAX_BACKLOG_BYTES,
      maxEntryBytes: config.BUS_MAX_ENTRY_BYTES,
      onPublished: (n, messages, at) => {
        // tripwire_ingest_bus_published_total counts the event stream only.
        if (stream === 'events') metrics.published.inc(n);
        fed?.published(n);
        health.redis.answered();
        marked?.published(messages, at);
      },
      onDropped: (n, ahead) => {
        fed?.dropped(n, ahead);
        metrics.publishDropped.inc(n);
        log.error({ dropped: n, stream }, DROPPED_MESSAGE[stream]);
      },
      onError: (err) => {
        fed?.failed();
        metrics.publishFailures.inc();
        health.failed('redis', 'publish', err);
        log.warn(
          { err: err.message, stream, backlog: publisher.backlog },
          'publishing to Redis failed; will retry',
        );
      },
    });
    return publisher;
  };
  return {
    events: publisherFor('events', confirmations, marks),
    control: publisherFor('control'),
  };
}
