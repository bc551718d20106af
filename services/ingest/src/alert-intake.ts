import { type BusPublisher, serializeAlertMessage } from '@tripwire/bus';
import type { AlertBatcher, Host, NewAlert, SubmitResult } from '@tripwire/storage';
import type { IngestMetrics } from './ingest-metrics.js';

const isoFromUs = (us: number) => new Date(Math.floor(us / 1000)).toISOString();

/**
 * The path every valid alert takes: group-committed to PostgreSQL, then (only
 * if newly stored) published on the bus. Resolves after COMMIT, which is when
 * the caller may acknowledge. Batches commit in order, so publishes keep each
 * host's order.
 */
export class AlertIntake {
  constructor(
    private readonly batcher: AlertBatcher,
    private readonly publisher: BusPublisher,
    private readonly metrics: IngestMetrics,
  ) {}

  get saturated(): boolean {
    return this.batcher.saturated;
  }

  async commit(host: Host, alerts: readonly NewAlert[]): Promise<SubmitResult> {
    const result = await this.batcher.submit(alerts);
    this.metrics.alertsStored.inc(result.stored.length);
    this.metrics.alertsDuplicate.inc(result.duplicates.length);
    if (result.stored.length > 0) {
      const byId = new Map(alerts.map((a) => [a.alertId, a]));
      this.publisher.publishSerialized(
        result.stored.map(({ alertId, receivedAt }) => {
          const alert = byId.get(alertId)!;
          return serializeAlertMessage(
            {
              alert_id: alert.alertId,
              host_id: alert.hostId,
              hostname: host.hostname,
              timestamp: isoFromUs(alert.occurredAtUs),
              timestamp_us: alert.occurredAtUs,
              received_at: receivedAt.toISOString(),
              tripwire_type: alert.tripwireType,
              rule_name: alert.ruleName,
              severity: alert.severity,
            },
            alert.eventDetailJson,
          );
        }),
      );
    }
    return result;
  }
}
