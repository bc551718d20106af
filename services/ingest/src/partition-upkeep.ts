import type { Logger } from '@tripwire/logger';
import {
  dropAlertPartitionsBefore,
  ensureAlertPartitions,
  type Pool,
  withoutStatementTimeout,
} from '@tripwire/storage';
import type { IngestConfig } from './config.js';

const PARTITION_UPKEEP_MS = 3_600_000;

export interface PartitionUpkeep {
  /** Runs once now (awaited), then every hour. */
  start(): Promise<void>;
  stop(): void;
}

/** Keeps the alerts table's monthly partitions created ahead of time and drops those past retention. */
export function createPartitionUpkeep(
  pool: Pool,
  config: Pick<IngestConfig, 'PARTITION_MONTHS_AHEAD' | 'ALERT_RETENTION_MONTHS'>,
  log: Logger,
): PartitionUpkeep {
  let timer: NodeJS.Timeout | undefined;
  const upkeep = async () => {
    try {
      // Maintenance may outlast PG_STATEMENT_TIMEOUT_MS (locks on a busy table): exempt it.
      await withoutStatementTimeout(pool, (db) =>
        ensureAlertPartitions(db, config.PARTITION_MONTHS_AHEAD),
      );
      // ALERT_RETENTION_MONTHS=0 keeps alerts forever.
      if (config.ALERT_RETENTION_MONTHS > 0) {
        const now = new Date();
        const cutoff = new Date(
          Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - config.ALERT_RETENTION_MONTHS, 1),
        );
        const dropped = await withoutStatementTimeout(pool, (db) =>
          dropAlertPartitionsBefore(db, cutoff),
        );
        if (dropped.length) log.info({ dropped }, 'retention dropped old alert partitions');
      }
    } catch (err) {
      log.warn({ err }, 'partition upkeep failed; will retry next hour');
    }
  };
  return {
    async start() {
      await upkeep();
      timer = setInterval(upkeep, PARTITION_UPKEEP_MS);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
