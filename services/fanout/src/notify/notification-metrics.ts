import { deliveryQueueStats, type Pool } from '@tripwire/storage';
import { Counter, Gauge, type Registry } from 'prom-client';

const STATS_TIMEOUT_MS = 1_000;

/** Deliveries by outcome, and the queue as PostgreSQL has it (read at scrape time). */
export function createNotificationMetrics(registers: Registry[], pool: Pool) {
  let stats: Promise<Awaited<ReturnType<typeof deliveryQueueStats>>> | undefined;
  // One query per scrape for the three gauges; a hung PostgreSQL must not hang /metrics.
  const read = () => {
    stats ??= Promise.race([
      deliveryQueueStats(pool),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('queue stats timed out')), STATS_TIMEOUT_MS).unref(),
      ),
    ]).finally(() => {
      setImmediate(() => {
        stats = undefined;
      });
    });
    return stats;
  };
  const gauge = (
    name: string,
    help: string,
    pick: (s: Awaited<ReturnType<typeof read>>) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        try {
          this.set(pick(await read()));
        } catch {
          // PostgreSQL unreachable: keep the last value; the readiness probe says why.
        }
      },
    });
  return {
    outcomes: new Counter({
      name: 'tripwire_notification_deliveries_total',
      help: 'Notification deliveries by destination kind and outcome (delivered, failed, dead, throttled)',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    waiting: gauge(
      'tripwire_notification_queue_depth',
      'Notification deliveries pending or being sent',
      (s) => s.waiting,
    ),
    dead: gauge(
      'tripwire_notification_dead',
      'Notification deliveries in the dead-letter state',
      (s) => s.dead,
    ),
    oldest: gauge(
      'tripwire_notification_oldest_pending_age_seconds',
      'Age of the oldest notification delivery still waiting',
      (s) => s.oldestWaitingAgeS,
    ),
  };
}

export type NotificationMetrics = ReturnType<typeof createNotificationMetrics>;
