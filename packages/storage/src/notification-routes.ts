import type { Severity, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

export const NOTIFICATION_EVENTS = ['opened', 'escalated', 'resolved', 'alert'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
export const NOTIFICATION_KINDS = ['webhook', 'slack', 'pagerduty', 'email'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** What an operator sets on a route (docs/notifications.md). */
export interface NotificationRouteInput {
  name: string;
  enabled: boolean;
  events: NotificationEvent[];
  minSeverity: Severity;
  hostIds: string[] | null;
  tripwireTypes: TripwireType[] | null;
  ruleNames: string[] | null;
  kind: NotificationKind;
  config: Record<string, unknown>;
  /** Merged over the stored ones on update: a key left out keeps its value. */
  secrets: Record<string, string>;
  template: string | null;
  throttlePerMinute: number | null;
}

export interface NotificationRoute extends Omit<NotificationRouteInput, 'secrets'> {
  routeId: string;
  /** Which secrets are set; their values only ever reach the sender. */
  secretNames: string[];
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A route with its secrets: for the sender only, never for an API answer. */
export interface NotificationRouteWithSecrets extends NotificationRoute {
  secrets: Record<string, string>;
}

interface RouteRow {
  route_id: string;
  name: string;
  enabled: boolean;
  events: NotificationEvent[];
  min_severity: Severity;
  host_ids: string[] | null;
  tripwire_types: TripwireType[] | null;
  rule_names: string[] | null;
  kind: NotificationKind;
  config: Record<string, unknown>;
  secrets: Record<string, string>;
  template: string | null;
  throttle_per_minute: number | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `route_id, name, enabled, events, min_severity, host_ids, tripwire_types::text[] AS tripwire_types,
  rule_names, kind, config, secrets, template, throttle_per_minute, created_by, created_at, updated_at`;

export const toRouteWithSecrets = (r: RouteRow): NotificationRouteWithSecrets => ({
  routeId: r.route_id,
  name: r.name,
  enabled: r.enabled,
  events: r.events,
  minSeverity: r.min_severity,
  hostIds: r.host_ids,
  tripwireTypes: r.tripwire_types,
  ruleNames: r.rule_names,
  kind: r.kind,
  config: r.config,
  secrets: r.secrets,
  secretNames: Object.keys(r.secrets).sort(),
  template: r.template,
  throttlePerMinute: r.throttle_per_minute,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRoute = (r: RouteRow): NotificationRoute => {
  const { secrets: _secrets, ...route } = toRouteWithSecrets(r);
  return route;
};

const params = (i: NotificationRouteInput) => [
  i.name,
  i.enabled,
  i.events,
  i.minSeverity,
  i.hostIds,
  i.tripwireTypes,
  i.ruleNames,
  i.kind,
  i.config,
  i.secrets,
  i.template,
  i.throttlePerMinute,
];

export async function createNotificationRoute(
  db: Queryable,
  input: NotificationRouteInput,
  createdBy: string,
): Promise<NotificationRoute> {
  const { rows } = await db.query<RouteRow>(
    `INSERT INTO notification_routes (name, enabled, events, min_severity, host_ids, tripwire_types,
       rule_names, kind, config, secrets, template, throttle_per_minute, created_by)
     VALUES ($1, $2, $3, $4, $5, $6::tripwire_type[], $7, $8, $9, $10, $11, $12, $13)
     RETURNING ${COLUMNS}`,
    [...params(input), createdBy],
  );
  return toRoute(rows[0]!);
}

/** Replaces a route's settings; secrets given are set, the others kept. Null when absent. */
export async function updateNotificationRoute(
  db: Queryable,
  routeId: string,
  input: NotificationRouteInput,
): Promise<NotificationRoute | null> {
  const { rows } = await db.query<RouteRow>(
    `UPDATE notification_routes SET name = $1, enabled = $2, events = $3, min_severity = $4,
       host_ids = $5, tripwire_types = $6::tripwire_type[], rule_names = $7, kind = $8, config = $9,
       secrets = secrets || $10, template = $11, throttle_per_minute = $12, updated_at = now()
     WHERE route_id = $13 RETURNING ${COLUMNS}`,
    [...params(input), routeId],
  );
  return rows[0] ? toRoute(rows[0]) : null;
}

export async function deleteNotificationRoute(db: Queryable, routeId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM notification_routes WHERE route_id = $1', [
    routeId,
  ]);
  return (rowCount ?? 0) > 0;
}

export async function getNotificationRoute(
  db: Queryable,
  routeId: string,
): Promise<NotificationRoute | null> {
  const route = await getNotificationRouteWithSecrets(db, routeId);
  if (!route) return null;
  const { secrets: _secrets, ...rest } = route;
  return rest;
}

export async function getNotificationRouteWithSecrets(
  db: Queryable,
  routeId: string,
): Promise<NotificationRouteWithSecrets | null> {
  const { rows } = await db.query<RouteRow>(
    `SELECT ${COLUMNS} FROM notification_routes WHERE route_id = $1`,
    [routeId],
  );
  return rows[0] ? toRouteWithSecrets(rows[0]) : null;
}

export async function listNotificationRoutes(db: Queryable): Promise<NotificationRoute[]> {
  const { rows } = await db.query<RouteRow>(
    `SELECT ${COLUMNS} FROM notification_routes ORDER BY name`,
  );
  return rows.map(toRoute);
}
