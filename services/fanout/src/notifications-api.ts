import {
  appendAuditEntry,
  createNotificationRoute,
  DELIVERY_STATES,
  type DeliveryState,
  deleteNotificationRoute,
  getNotificationRoute,
  listDeliveries,
  listNotificationRoutes,
  type NotificationDelivery,
  type Pool,
  retryDeadDelivery,
  updateNotificationRoute,
  withTransaction,
} from '@tripwire/storage';
import { UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { notificationRouteJson, parseNotificationRoute } from './notification-route-body.js';
import { auditActor } from './operator-auth.js';

const deliveryJson = (d: NotificationDelivery) => ({
  delivery_id: d.deliveryId,
  route_id: d.routeId,
  event_key: d.eventKey,
  event: d.event,
  state: d.state,
  attempts: d.attempts,
  next_attempt_at: d.nextAttemptAt.toISOString(),
  last_error: d.lastError,
  created_at: d.createdAt.toISOString(),
  delivered_at: d.deliveredAt?.toISOString() ?? null,
  digest_key: d.digestKey,
});

function idParam(req: ApiRequest, what: string) {
  const id = req.params[0] ?? '';
  if (!UUID.test(id)) throw new ApiError(404, 'not_found', `no such ${what}`);
  return id;
}

function nameConflict(err: unknown): never {
  if ((err as { code?: string }).code === '23505')
    throw new ApiError(409, 'conflict', 'a notification route with this name exists', {
      name: 'already used',
    });
  throw err;
}

function deliveryQuery(query: URLSearchParams) {
  const state = query.get('state') ?? undefined;
  if (state !== undefined && !DELIVERY_STATES.includes(state as DeliveryState))
    throw new ApiError(
      400,
      'invalid_parameter',
      `state must be one of ${DELIVERY_STATES.join(', ')}`,
      {
        state: 'unknown value',
      },
    );
  const routeId = query.get('route_id') ?? undefined;
  if (routeId !== undefined && !UUID.test(routeId))
    throw new ApiError(400, 'invalid_parameter', 'route_id must be a UUID', {
      route_id: 'not a UUID',
    });
  const limit = Number(query.get('limit') ?? 100);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new ApiError(400, 'invalid_parameter', 'limit must be 1 to 1000', {
      limit: 'out of range',
    });
  return { state: state as DeliveryState | undefined, routeId, limit };
}

/**
 * /api/notification-routes and /api/notification-deliveries (admins only: routes hold
 * credentials and say where alerts leave the system). Every change is audited, without secrets.
 */
export function registerNotificationsApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  const audit =
    (req: ApiRequest, action: string, target: string, details: Record<string, unknown>) =>
    (db: Parameters<typeof appendAuditEntry>[0]) =>
      appendAuditEntry(db, {
        actor: auditActor(req.operator),
        action,
        hostId: null,
        target,
        details,
      });

  route(ctx, 'get', '/api/notification-routes', 'admin', async () => ({
    body: { routes: (await listNotificationRoutes(pool)).map(notificationRouteJson) },
  }));

  route(ctx, 'get', '/api/notification-routes/:id', 'admin', async (req) => {
    const r = await getNotificationRoute(pool, idParam(req, 'route'));
    if (!r) throw new ApiError(404, 'not_found', 'no such route');
    return { body: notificationRouteJson(r) };
  });

  route(ctx, 'post', '/api/notification-routes', 'admin', async (req) => {
    const input = parseNotificationRoute(req.body);
    const created = await withTransaction(pool, async (db) => {
      const r = await createNotificationRoute(db, input, auditActor(req.operator));
      await audit(req, 'notification_route.create', r.routeId, { route: notificationRouteJson(r) })(
        db,
      );
      return r;
    }).catch(nameConflict);
    return { status: 201, body: notificationRouteJson(created) };
  });

  route(ctx, 'put', '/api/notification-routes/:id', 'admin', async (req) => {
    const id = idParam(req, 'route');
    const before = await getNotificationRoute(pool, id);
    if (!before) throw new ApiError(404, 'not_found', 'no such route');
    const input = parseNotificationRoute(req.body, before);
    const after = await withTransaction(pool, async (db) => {
      const r = await updateNotificationRoute(db, id, input);
      if (r)
        await audit(req, 'notification_route.update', id, {
          before: notificationRouteJson(before),
          after: notificationRouteJson(r),
          secrets_changed: Object.keys(input.secrets).sort(),
        })(db);
      return r;
    }).catch(nameConflict);
    if (!after) throw new ApiError(404, 'not_found', 'no such route');
    return { body: notificationRouteJson(after) };
  });

  route(ctx, 'del', '/api/notification-routes/:id', 'admin', async (req) => {
    const id = idParam(req, 'route');
    const removed = await withTransaction(pool, async (db) => {
      const r = await getNotificationRoute(db, id);
      if (!r || !(await deleteNotificationRoute(db, id))) return null;
      await audit(req, 'notification_route.delete', id, { route: notificationRouteJson(r) })(db);
      return r;
    });
    if (!removed) throw new ApiError(404, 'not_found', 'no such route');
    return { status: 204 };
  });

  route(ctx, 'get', '/api/notification-deliveries', 'admin', async (req) => ({
    body: { deliveries: (await listDeliveries(pool, deliveryQuery(req.query))).map(deliveryJson) },
  }));

  route(ctx, 'post', '/api/notification-deliveries/:id/retry', 'admin', async (req) => {
    const id = idParam(req, 'delivery');
    const retried = await withTransaction(pool, async (db) => {
      const d = await retryDeadDelivery(db, id);
      if (d)
        await audit(req, 'notification_delivery.retry', id, {
          route_id: d.routeId,
          event_key: d.eventKey,
        })(db);
      return d;
    });
    if (!retried)
      throw new ApiError(
        409,
        'not_dead',
        'only a dead delivery can be retried (or no such delivery)',
      );
    return { body: deliveryJson(retried) };
  });
}
