import {
  NOTIFICATION_EVENTS,
  NOTIFICATION_KINDS,
  type NotificationRoute,
  type NotificationRouteInput,
} from '@tripwire/storage';
import { PRINTABLE_LINE, SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { z } from 'zod';
import { parseBody, UUID } from './api-params.js';
import { ApiError } from './http-route.js';
import { checkDestinationUrl } from './notify/destination-address.js';
import { checkTemplate } from './notify/message-text.js';

const text = (max: number) =>
  z.string().trim().min(1, 'is required').max(max, `must be at most ${max} characters`);
const nullableList = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1).max(1000).nullable().default(null);

const schema = z
  .object({
    name: text(200).regex(PRINTABLE_LINE, 'must not contain control characters'),
    enabled: z.boolean().default(true),
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1, 'name at least one event'),
    min_severity: z.enum(SEVERITIES).default('INFO'),
    host_ids: nullableList(z.string().regex(UUID, 'must be host UUIDs')),
    tripwire_types: nullableList(z.enum(TRIPWIRE_TYPES)),
    rule_names: nullableList(text(256)),
    kind: z.enum(NOTIFICATION_KINDS),
    config: z.record(z.string(), z.unknown()).default({}),
    secrets: z.record(z.string(), z.string().max(4096)).default({}),
    template: z.string().max(10_000).nullable().default(null),
    throttle_per_minute: z.number().int().min(1).max(100_000).nullable().default(null),
  })
  .strict();

/** What each kind needs: [config keys that are URLs, secret keys required on creation]. */
const NEEDS: Record<
  NotificationRouteInput['kind'],
  { urls: string[]; secretUrls: string[]; secrets: string[] }
> = {
  webhook: { urls: ['url'], secretUrls: [], secrets: ['secret'] },
  slack: { urls: [], secretUrls: ['webhook_url'], secrets: ['webhook_url'] },
  pagerduty: { urls: ['url'], secretUrls: [], secrets: ['routing_key'] },
  email: { urls: [], secretUrls: [], secrets: [] },
};

const invalid = (field: string, message: string): never => {
  throw new ApiError(400, 'validation_failed', `${field} ${message}`, { [field]: message });
};

function checkDestination(r: z.output<typeof schema>, creating: boolean, storedSecrets: string[]) {
  const needs = NEEDS[r.kind];
  const check = (field: string, value: unknown) => {
    try {
      checkDestinationUrl(String(value));
    } catch (err) {
      invalid(field, (err as Error).message);
    }
  };
  for (const key of needs.urls)
    if (r.config[key] !== undefined || r.kind === 'webhook') check(`config.${key}`, r.config[key]);
  for (const key of needs.secretUrls)
    if (r.secrets[key] !== undefined) check(`secrets.${key}`, r.secrets[key]);
  for (const key of needs.secrets)
    if (!r.secrets[key] && (creating || !storedSecrets.includes(key)))
      invalid(`secrets.${key}`, 'is required');
  if (r.kind === 'email') {
    const c = r.config;
    if (typeof c.host !== 'string' || !c.host) invalid('config.host', 'is required');
    if (typeof c.from !== 'string' || !c.from) invalid('config.from', 'is required');
    if (!Array.isArray(c.to) || c.to.length === 0 || !c.to.every((a) => typeof a === 'string'))
      invalid('config.to', 'must be a list of addresses');
  }
  if (r.template !== null) {
    try {
      checkTemplate(r.template);
    } catch (err) {
      invalid('template', `does not parse: ${(err as Error).message}`);
    }
  }
}

/** A route from a request body, checked for its kind (URLs: http(s), no credentials). */
export function parseNotificationRoute(
  body: unknown,
  existing: NotificationRoute | null = null,
): NotificationRouteInput {
  const r = parseBody(schema, body, 'notification route');
  checkDestination(r, existing === null, existing?.secretNames ?? []);
  return {
    name: r.name,
    enabled: r.enabled,
    events: [...new Set(r.events)],
    minSeverity: r.min_severity,
    hostIds: r.host_ids,
    tripwireTypes: r.tripwire_types,
    ruleNames: r.rule_names,
    kind: r.kind,
    config: r.config,
    secrets: r.secrets,
    template: r.template,
    throttlePerMinute: r.throttle_per_minute,
  };
}

/** A route as the API shows it: secrets by name only. */
export const notificationRouteJson = (r: NotificationRoute) => ({
  route_id: r.routeId,
  name: r.name,
  enabled: r.enabled,
  events: r.events,
  min_severity: r.minSeverity,
  host_ids: r.hostIds,
  tripwire_types: r.tripwireTypes,
  rule_names: r.ruleNames,
  kind: r.kind,
  config: r.config,
  secrets_set: r.secretNames,
  template: r.template,
  throttle_per_minute: r.throttlePerMinute,
  created_by: r.createdBy,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});
