import type { Bus, BusPublisher, BusStream } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { IngestConfig } from './config.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { PublishConfirmations } from './publish-confirmations.js';
import type { PublishMarks } from './publish-marks.js';

export interface BusPublishersDeps {
  bus: Bus;
  config: Pick<IngestConfig, 'BUS_KEY_PREFIX' | 'BUS_HISTORY_MAX_LENGTH' | 'BUS_MAX_BACKLOG'>;
  metrics: IngestMetrics;
  log: Logger;
  /** Fed by the event stream's publisher: acks wait for the publish too (see PublishConfirmations). */
  confirmations: PublishConfirmations;
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
      onPublished: (n, messages) => {
        // tripwire_ingest_bus_published_total counts the event stream only.
        if (stream === 'events') metrics.published.inc(n);
        fed?.published(n);
        marked?.published(messages);
      },
      onDropped: (n) => {
        fed?.dropped(n);
        metrics.publishDropped.inc(n);
        log.error({ dropped: n, stream }, DROPPED_MESSAGE[stream]);
      },
      onError: (err) => {
        fed?.failed();
        metrics.publishFailures.inc();
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
