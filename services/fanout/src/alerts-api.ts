import {
  getAlertsById,
  InvalidQueryError,
  type Pool,
  queryAlerts,
  type Severity,
  streamAlerts,
  type TripwireType,
} from '@tripwire/storage';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { alertJson } from './alert-json.js';
import { hostParam, listParam, timeRange, UUID } from './api-params.js';
import type { Exporter } from './exporter.js';
import { ApiError, type RouteContext, route } from './http-route.js';

const SUPPRESSED = ['exclude', 'include', 'only'] as const;

/** `suppressed=exclude|include|only` (default exclude: muted alerts stay out of sight unless asked). */
function suppressedParam(query: URLSearchParams): (typeof SUPPRESSED)[number] {
  const value = query.get('suppressed') ?? 'exclude';
  if (!(SUPPRESSED as readonly string[]).includes(value))
    throw new ApiError(400, 'invalid_parameter', 'suppressed must be exclude, include or only');
  return value as (typeof SUPPRESSED)[number];
}

/** The columns of an alert export, in order (alertJson's fields). */
const ALERT_COLUMNS = [
  'alert_id',
  'received_at',
  'timestamp',
  'timestamp_us',
  'host_id',
  'tripwire_type',
  'severity',
  'rule_name',
  'event_detail',
] as const;

/** The filters GET /api/alerts and its export share: time range, host, severity, type, q. */
function alertFilter(query: URLSearchParams) {
  const q = query.get('q');
  return {
    ...timeRange(query),
    hostId: hostParam(query),
    severities: listParam(query, 'severity', SEVERITIES) as Severity[],
    tripwireTypes: listParam(query, 'type', TRIPWIRE_TYPES) as TripwireType[],
    // An empty q (a cleared search box) is no search.
    suppressed: suppressedParam(query),
    ...(q ? { q } : {}),
  };
}

/** Storage's refusal of a filter (a q too short, a cursor it never issued) as a 400. */
function invalidQuery(err: unknown): never {
  if (err instanceof InvalidQueryError) throw new ApiError(400, 'invalid_parameter', err.message);
  throw err;
}

/** /api/alerts: a filtered page of alerts (newest first, with a cursor), their export, one alert by id. */
export function registerAlertsApi(
  ctx: RouteContext,
  { pool, exporter }: { pool: Pool; exporter: Exporter },
) {
  route(ctx, 'get', '/api/alerts', 'any', async ({ query }) => {
    const limitRaw = query.get('limit');
    const page = await queryAlerts(pool, {
      ...alertFilter(query),
      limit: limitRaw === null ? 100 : Number(limitRaw),
      cursor: query.get('cursor') ?? undefined,
    }).catch(invalidQuery);
    return { body: { alerts: page.alerts.map(alertJson), next_cursor: page.nextCursor } };
  });

  route(ctx, 'get', '/api/alerts/export', 'any', async (req) => {
    const filter = alertFilter(req.query);
    return exporter.serve(req, {
      kind: 'alerts',
      columns: ALERT_COLUMNS,
      toRecord: alertJson,
      filter: {
        from: filter.from.toISOString(),
        to: filter.to.toISOString(),
        host_id: filter.hostId ?? null,
        severity: filter.severities,
        type: filter.tripwireTypes,
        q: filter.q ?? null,
      },
      open: (options) => {
        try {
          return streamAlerts(pool, filter, options);
        } catch (err) {
          invalidQuery(err);
        }
      },
    });
  });

  route(ctx, 'get', '/api/alerts/:id', 'any', async ({ params }) => {
    const id = (params[0] ?? '').toLowerCase();
    const [a] = UUID.test(id) ? await getAlertsById(pool, [id]) : [];
    if (!a) throw new ApiError(404, 'not_found', 'no such alert');
    return { body: alertJson(a) };
  });
}
