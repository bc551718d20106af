import {
  countAlertsPerMinute,
  databaseNow,
  type Pool,
  type Severity,
  type TripwireType,
} from '@tripwire/storage';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { hostParam, integerParam, listParam } from './api-params.js';
import { type RouteContext, route } from './http-route.js';

const MINUTE_MS = 60_000;
const MAX_STATS_MINUTES = 1440;

/** /api/stats: figures for the dashboard's charts. */
export function registerStatsApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  // For the dashboard's chart: the last `minutes` whole minutes, the current (partial) one last.
  route(ctx, 'get', '/api/stats/alerts-per-minute', 'any', async ({ query }) => {
    const minutes = integerParam(query, 'minutes', {
      min: 1,
      max: MAX_STATS_MINUTES,
      fallback: 60,
    });
    const hostId = hostParam(query);
    const severities = listParam(query, 'severity', SEVERITIES) as Severity[];
    const tripwireTypes = listParam(query, 'type', TRIPWIRE_TYPES) as TripwireType[];
    const to = (Math.floor(Date.now() / MINUTE_MS) + 1) * MINUTE_MS;
    const from = to - minutes * MINUTE_MS;
    // Counted up to now on the database's clock, the one received_at comes from: a chart that
    // goes on counting live alerts received from counted_up_to on counts none twice.
    const countedUpTo = new Date(Math.min((await databaseNow(pool)).getTime(), to));
    const buckets = await countAlertsPerMinute(pool, {
      from: new Date(from),
      to: new Date(to),
      receivedBefore: countedUpTo,
      hostId,
      severities,
      tripwireTypes,
    });
    return {
      body: {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        counted_up_to: countedUpTo.toISOString(),
        buckets: buckets.map((b) => ({ minute: b.minute.toISOString(), ...b.counts })),
      },
    };
  });
}
