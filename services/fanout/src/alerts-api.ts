import { getAlertsById, InvalidQueryError, type Pool, queryAlerts } from '@tripwire/storage';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { alertJson } from './alert-json.js';
import { hostParam, listParam, timeRange, UUID } from './api-params.js';
import { ApiError, type RouteContext, route } from './http-route.js';

const SUPPRESSED = ['exclude', 'include', 'only'] as const;

/** `suppressed=exclude|include|only` (default exclude: muted alerts stay out of sight unless asked). */
function suppressedParam(query: URLSearchParams): (typeof SUPPRESSED)[number] {
  const value = query.get('suppressed') ?? 'exclude';
  if (!(SUPPRESSED as readonly string[]).includes(value))
    throw new ApiError(400, 'invalid_parameter', 'suppressed must be exclude, include or only');
  return value as (typeof SUPPRESSED)[number];
}

/** /api/alerts: a filtered page of alerts (newest first, with a cursor), and one alert by id. */
export function registerAlertsApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  route(ctx, 'get', '/api/alerts', 'any', async ({ query }) => {
    const limitRaw = query.get('limit');
    try {
      const page = await queryAlerts(pool, {
        ...timeRange(query),
        hostId: hostParam(query),
        severities: listParam(query, 'severity', SEVERITIES) as never,
        tripwireTypes: listParam(query, 'type', TRIPWIRE_TYPES) as never,
        suppressed: suppressedParam(query),
        limit: limitRaw === null ? 100 : Number(limitRaw),
        cursor: query.get('cursor') ?? undefined,
      });
      return {
        body: {
          alerts: page.alerts.map(alertJson),
          next_cursor: page.nextCursor,
        },
      };
    } catch (err) {
      if (err instanceof InvalidQueryError)
        throw new ApiError(400, 'invalid_parameter', err.message);
      throw err;
    }
  });

  route(ctx, 'get', '/api/alerts/:id', 'any', async ({ params }) => {
    const id = (params[0] ?? '').toLowerCase();
    const [a] = UUID.test(id) ? await getAlertsById(pool, [id]) : [];
    if (!a) throw new ApiError(404, 'not_found', 'no such alert');
    return { body: alertJson(a) };
  });
}
