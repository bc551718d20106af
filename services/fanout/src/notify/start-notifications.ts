import type { Logger } from '@tripwire/logger';
import type { Pool } from '@tripwire/storage';
import type { Registry } from 'prom-client';
import type { FanoutConfig } from '../config.js';
import { createNotificationMetrics } from './notification-metrics.js';
import {
  createNotificationWorker,
  type NotificationWorkerSettings,
} from './notification-worker.js';

/** Response bytes read from a receiver at most: enough for an error message. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export function notificationSettings(c: FanoutConfig): NotificationWorkerSettings {
  return {
    pollMs: c.NOTIFY_POLL_MS,
    batchSize: c.NOTIFY_BATCH_SIZE,
    // Outlasts any send of a batch, so a live worker's rows are never taken over.
    leaseS: (2 * c.NOTIFY_SEND_TIMEOUT_MS) / 1000 + 30,
    maxAttempts: c.NOTIFY_MAX_ATTEMPTS,
    maxAgeS: c.NOTIFY_MAX_AGE_S,
    backoffBaseS: c.NOTIFY_BACKOFF_BASE_MS / 1000,
    backoffMaxS: c.NOTIFY_BACKOFF_MAX_MS / 1000,
    send: {
      timeoutMs: c.NOTIFY_SEND_TIMEOUT_MS,
      allowPrivate: c.NOTIFY_ALLOW_PRIVATE_DESTINATIONS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
    },
  };
}

/** The fan-out's notification worker (off with NOTIFY_WORKER=false); metrics registered either way. */
export function createFanoutNotifier(deps: {
  config: FanoutConfig;
  pool: Pool;
  log: Logger;
  registry: Registry;
}) {
  const { config, pool, log, registry } = deps;
  const worker = createNotificationWorker({
    pool,
    log,
    metrics: createNotificationMetrics([registry], pool),
    settings: notificationSettings(config),
  });
  return {
    start: () => {
      if (config.NOTIFY_WORKER) worker.start();
    },
    stop: () => worker.stop(),
  };
}
