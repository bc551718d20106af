import type { Logger } from '@tripwire/logger';
import {
  claimDueDeliveries,
  deferDeliveries,
  type FailurePolicy,
  getNotificationRouteWithSecrets,
  markDeliveriesDelivered,
  markDeliveriesFailed,
  type NotificationDelivery,
  type NotificationRouteWithSecrets,
  type Pool,
  reserveRouteBudget,
} from '@tripwire/storage';
import { digestMessage, type NotificationMessage, singleMessage } from './notification-message.js';
import type { NotificationMetrics } from './notification-metrics.js';
import { type SendPolicy, sendMessage } from './senders.js';

export interface NotificationWorkerSettings {
  pollMs: number;
  batchSize: number;
  /** How long a claimed row stays this worker's; longer than a send's time limit. */
  leaseS: number;
  maxAttempts: number;
  maxAgeS: number;
  backoffBaseS: number;
  backoffMaxS: number;
  send: SendPolicy;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempts-1))]. */
export const backoffDelayS =
  (s: Pick<NotificationWorkerSettings, 'backoffBaseS' | 'backoffMaxS'>) => (attempts: number) =>
    Math.random() * Math.min(s.backoffMaxS, s.backoffBaseS * 2 ** Math.max(0, attempts - 1));

/**
 * Splits one route's claimed rows by its per-minute budget: within it, one message each;
 * over it, the last granted message is a digest of the rest; no budget left, the rows wait
 * for the next window.
 */
async function planRoute(
  pool: Pool,
  route: NotificationRouteWithSecrets,
  rows: NotificationDelivery[],
): Promise<{ messages: NotificationMessage[]; deferred: NotificationDelivery[]; until: Date }> {
  const { granted, windowEndsAt } = await reserveRouteBudget(pool, route.routeId, rows.length);
  if (granted >= rows.length)
    return {
      messages: rows.map((d) => singleMessage(route, d)),
      deferred: [],
      until: windowEndsAt,
    };
  if (granted === 0) return { messages: [], deferred: rows, until: windowEndsAt };
  const singles = rows.slice(0, granted - 1).map((d) => singleMessage(route, d));
  return {
    messages: [...singles, digestMessage(route, rows.slice(granted - 1))],
    deferred: [],
    until: windowEndsAt,
  };
}

/**
 * The delivery worker (runs in every fan-out instance): claims due rows with SKIP LOCKED,
 * sends, marks. At-least-once: a crash between a receiver's 2xx and the mark leaves the row
 * leased, and it is sent again when the lease ends, with the same idempotency key.
 */
export function createNotificationWorker(deps: {
  pool: Pool;
  log: Logger;
  metrics: NotificationMetrics;
  settings: NotificationWorkerSettings;
}) {
  const { pool, log, metrics, settings } = deps;
  const policy: FailurePolicy = {
    maxAttempts: settings.maxAttempts,
    maxAgeS: settings.maxAgeS,
    delayS: backoffDelayS(settings),
  };

  async function deliver(m: NotificationMessage) {
    const kind = m.route.kind;
    try {
      await sendMessage(m, settings.send);
    } catch (err) {
      const reason = (err as Error).message || String(err);
      const dead = await markDeliveriesFailed(pool, m.deliveries, reason, policy);
      metrics.outcomes.inc({ kind, outcome: 'failed' }, m.deliveries.length - dead);
      if (dead > 0) metrics.outcomes.inc({ kind, outcome: 'dead' }, dead);
      // The route name and the reason only: never the URL (a Slack URL is a credential) or a secret.
      log.warn({ route: m.route.name, kind, reason, dead }, 'notification attempt failed');
      return;
    }
    // Sent: a failure to record it must not count as a failed send. The lease runs out and the
    // row is sent again with the same idempotency key (the at-least-once case).
    await markDeliveriesDelivered(pool, m.deliveries, m.digest ? m.idempotencyKey : null);
    metrics.outcomes.inc({ kind, outcome: 'delivered' }, m.deliveries.length);
  }

  async function runRoute(routeId: string, rows: NotificationDelivery[]) {
    const route = await getNotificationRouteWithSecrets(pool, routeId);
    if (!route?.enabled) {
      await markDeliveriesFailed(pool, rows, 'route disabled', { ...policy, maxAttempts: 0 });
      return;
    }
    const plan = await planRoute(pool, route, rows);
    if (plan.deferred.length > 0) {
      await deferDeliveries(pool, plan.deferred, plan.until);
      metrics.outcomes.inc({ kind: route.kind, outcome: 'throttled' }, plan.deferred.length);
    }
    await Promise.all(plan.messages.map(deliver));
  }

  /** One round: claim, send by route. Returns how many rows it claimed. */
  async function tick(): Promise<number> {
    const rows = await claimDueDeliveries(pool, settings.batchSize, settings.leaseS);
    const byRoute = new Map<string, NotificationDelivery[]>();
    for (const d of rows) byRoute.set(d.routeId, [...(byRoute.get(d.routeId) ?? []), d]);
    await Promise.all([...byRoute].map(([routeId, r]) => runRoute(routeId, r)));
    return rows.length;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const loop = async () => {
    let claimed = 0;
    try {
      claimed = await tick();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'notification round failed');
    }
    // A full batch: more are probably due, go again at once.
    if (!stopped) timer = setTimeout(schedule, claimed >= settings.batchSize ? 0 : settings.pollMs);
  };
  const schedule = () => {
    running = loop();
  };
  return {
    tick,
    start() {
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
