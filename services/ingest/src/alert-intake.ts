import type { BusPublisher } from '@tripwire/bus';
import {
  AlertBatcher,
  type Host,
  type InsertOutcome,
  type NewAlert,
  type Pool,
  type SubmitResult,
} from '@tripwire/storage';
import { type Context, SpanKind, traceparentOf, withSpan } from '@tripwire/tracing';
import { alertMessage } from './alert-message.js';
import type { IngestConfig } from './config.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { PublishConfirmations } from './publish-confirmations.js';
import type { PublishMarks } from './publish-marks.js';
import type { SuppressionCache } from './suppression-cache.js';

const COMMIT_SPAN = 'ingest.commit';
const COMMIT_SPAN_OPTIONS = {
  kind: SpanKind.CLIENT,
  attributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'COMMIT' },
};
const PUBLISH_SPAN = 'ingest.publish';
const PUBLISH_SPAN_OPTIONS = {
  kind: SpanKind.PRODUCER,
  attributes: { 'messaging.system': 'redis', 'messaging.operation.type': 'send' },
};

import type { StreamLocator } from './stream-locator.js';

/** The group-commit batcher the intake stores through, sized by config, each flush measured. */
export function createAlertBatcher(
  pool: Pool,
  config: IngestConfig,
  metrics: IngestMetrics,
  afterFlush: (incidents: InsertOutcome['incidents'] | undefined, error: Error | undefined) => void,
): AlertBatcher {
  return new AlertBatcher({
    db: pool,
    maxBatchSize: config.BATCH_MAX_SIZE,
    maxDelayMs: config.BATCH_MAX_DELAY_MS,
    highWaterMark: config.INGEST_MAX_PENDING,
    highWaterBytes: config.INGEST_MAX_PENDING_BYTES,
    maxConcurrentFlushes: config.BATCH_MAX_CONCURRENT,
    incidentWindowS: config.INCIDENT_WINDOW_S,
    onFlush: ({ size, durationMs, error, incidents }) => {
      metrics.batchSize.observe(size);
      metrics.flushDuration.observe(durationMs / 1000);
      if (error) metrics.flushFailures.inc();
      afterFlush(incidents, error);
    },
  });
}

/**
 * The path every valid alert takes: group-committed to PostgreSQL, then published on the bus:
 * new ones, and resends the idempotency ledger does not mark published (PublishMarks marks an
 * alert once Redis confirmed its append). An unmarked resend may be the first copy the bus ever
 * carries, whatever its age: the instance that stored it can have died between its COMMIT and
 * its publish. The rare copy of an alert that was published but not yet marked is dropped by
 * the fan-out (docs/fanout.md#exactly-once). Resolves after COMMIT and, with confirmations,
 * once the publish is in Redis (or Redis is failing, or a bounded wait ran out): that is when
 * the caller may acknowledge, so an instance killed in between leaves the alert unacknowledged
 * and the agent's resend gets it published. Batches commit in order and publishes follow that order, so each host's
 * alerts keep their order on the bus.
 */
export class AlertIntake {
  /** Publishes waiting for a ledger lookup; later batches queue behind them to keep order. */
  private publishing: Promise<void> = Promise.resolve();
  private queuedPublishes = 0;
  /** Submissions not yet committed and published (see published()). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly batcher: AlertBatcher,
    private readonly publisher: BusPublisher,
    private readonly metrics: IngestMetrics,
    /** The ledger's published marks: which resends never reached the bus. */
    private readonly marks: PublishMarks,
    /** Marks the alerts a suppression mutes, before they are stored. */
    private readonly suppressions: Pick<SuppressionCache, 'apply'>,
    /** When given, commit() also waits (bounded) until the alerts are on the bus. */
    private readonly confirmations?: PublishConfirmations,
    /** When given, an unmarked resend found in the stream is marked there, not published again. */
    private readonly locator?: StreamLocator,
  ) {}

  get saturated(): boolean {
    return this.batcher.saturated;
  }

  /** `trace`: the batch's span context, when traced: the commit and publish spans go under it. */
  commit(host: Host, alerts: readonly NewAlert[], trace?: Context): Promise<SubmitResult> {
    const started = performance.now();
    const done = this.commitAndPublish(host, alerts, trace);
    this.inFlight.add(done);
    const forget = () => this.inFlight.delete(done);
    done.then(() => {
      forget();
      // Only acknowledgeable batches: a failed one is not acked, so it has no ack latency.
      this.metrics.ackLatency.observe((performance.now() - started) / 1000);
    }, forget);
    return done;
  }

  /**
   * Resolves once every submission made so far is published (or failed): a flush's incident
   * messages wait for this, so they follow that flush's alerts on the bus.
   */
  published(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }

  private async commitAndPublish(
    host: Host,
    received: readonly NewAlert[],
    trace: Context | undefined,
  ): Promise<SubmitResult> {
    const alerts = this.suppressions.apply(received);
    // Waits for the group commit this submission joined: its span is the wait for COMMIT.
    const result = await withSpan(COMMIT_SPAN, COMMIT_SPAN_OPTIONS, trace, async (span) => {
      const submitted = await this.batcher.submit(alerts);
      span?.setAttributes({
        'tripwire.alerts.stored': submitted.stored.length,
        'tripwire.alerts.duplicate': submitted.duplicates.length,
      });
      return submitted;
    });
    await withSpan(PUBLISH_SPAN, PUBLISH_SPAN_OPTIONS, trace, (span) =>
      this.publishStored(host, alerts, result, span && traceparentOf(span)),
    );
    return result;
  }

  /**
   * Publishes what the submission stored, and the resends never published, then waits for the
   * confirmations. `traceparent` goes on each alert message, so the fan-out's delivery joins the trace.
   */
  private async publishStored(
    host: Host,
    alerts: readonly NewAlert[],
    result: SubmitResult,
    traceparent: string | undefined,
  ): Promise<void> {
    this.metrics.alertsStored.inc(result.stored.length);
    this.metrics.alertsDuplicate.inc(result.duplicates.length);
    const stored = new Map(result.stored.map((s) => [s.alertId, s.receivedAt]));
    // A repeat inside this very submission was just stored (and is published) once.
    const resent = result.duplicates.filter((id) => !stored.has(id));
    if (resent.length === 0 && this.queuedPublishes === 0) {
      await this.confirmed(this.publish(host, alerts, stored, traceparent));
      return;
    }
    this.queuedPublishes++;
    const link = this.publishing.then(async () => {
      try {
        return await this.publishWithResends(host, alerts, stored, resent, traceparent);
      } finally {
        this.queuedPublishes--;
      }
    });
    this.publishing = link.then(
      () => {},
      () => {},
    );
    await this.confirmed(await link);
  }

  /**
   * Publishes what was stored now and the resends the ledger does not mark published. If the
   * ledger cannot be read (PostgreSQL just went away), the submission fails after publishing
   * what it stored: nothing is acknowledged, and the agent's next resend decides again.
   */
  private async publishWithResends(
    host: Host,
    alerts: readonly NewAlert[],
    stored: Map<string, Date>,
    resent: readonly string[],
    traceparent: string | undefined,
  ): Promise<boolean> {
    let unpublished: Map<string, Date>;
    try {
      // This instance may have published some of them itself: let those appends be confirmed
      // (and then marked, see PublishMarks.unpublished) before reading the ledger.
      await this.confirmed(true);
      unpublished = await this.marks.unpublished(resent);
    } catch (err) {
      this.publish(host, alerts, stored, traceparent);
      throw err;
    }
    await this.dropFoundOnBus(unpublished);
    this.metrics.resendsRepublished.inc(unpublished.size);
    for (const [id, at] of unpublished) if (!stored.has(id)) stored.set(id, at);
    return this.publish(host, alerts, stored, traceparent);
  }

  /**
   * Unmarked resends the stream holds already (their instance died between the append and the
   * mark) are marked where they are and left out; a failed search leaves them all in.
   */
  private async dropFoundOnBus(unpublished: Map<string, Date>): Promise<void> {
    if (!this.locator || unpublished.size === 0) return;
    const alerts = [...unpublished].map(([alertId, receivedAt]) => ({ alertId, receivedAt }));
    const { found } = await this.locator.markFound(alerts).catch(() => ({ found: new Set() }));
    for (const id of found) unpublished.delete(id as string);
  }

  /** Waits until what was just published is on the bus (see PublishConfirmations). */
  private async confirmed(published: boolean): Promise<void> {
    if (published && this.confirmations)
      await this.confirmations.whenPublished(this.publisher.backlog);
  }

  /** Publishes, in submission order, the alerts in `receivedAt` (each once); false if none. */
  private publish(
    host: Host,
    alerts: readonly NewAlert[],
    receivedAt: Map<string, Date>,
    traceparent: string | undefined,
  ): boolean {
    if (receivedAt.size === 0) return false;
    const messages: string[] = [];
    for (const alert of alerts) {
      const at = receivedAt.get(alert.alertId);
      if (!at) continue;
      receivedAt.delete(alert.alertId);
      messages.push(
        alertMessage({ ...alert, hostname: host.hostname, receivedAt: at }, traceparent),
      );
    }
    this.publisher.publishSerialized(messages);
    return true;
  }
}
