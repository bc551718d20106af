import { createHash } from 'node:crypto';
import type { NotificationDelivery, NotificationRouteWithSecrets } from '@tripwire/storage';
import { renderText, type TextEscape } from './message-text.js';

/** One message to send: a single event, or several folded into a digest. */
export interface NotificationMessage {
  route: NotificationRouteWithSecrets;
  deliveries: NotificationDelivery[];
  /** The receiver's dedupe key: the delivery id, or for a digest a hash of its deliveries' ids. */
  idempotencyKey: string;
  digest: boolean;
}

export function singleMessage(
  route: NotificationRouteWithSecrets,
  delivery: NotificationDelivery,
): NotificationMessage {
  return { route, deliveries: [delivery], idempotencyKey: delivery.deliveryId, digest: false };
}

export function digestMessage(
  route: NotificationRouteWithSecrets,
  deliveries: NotificationDelivery[],
): NotificationMessage {
  const ids = deliveries.map((d) => d.deliveryId).sort();
  const key = createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 32);
  return { route, deliveries, idempotencyKey: `digest-${key}`, digest: true };
}

const DIGEST_LINES = 20;

/** The human text of a message: the template's, or for a digest a count and the first lines. */
export function messageText(m: NotificationMessage, escaping: TextEscape): string {
  const lines = m.deliveries.map((d) => renderText(m.route.template, d.event, escaping));
  if (!m.digest) return lines[0] ?? '';
  const more = lines.length > DIGEST_LINES ? [`… and ${lines.length - DIGEST_LINES} more`] : [];
  return [
    `${lines.length} notifications for ${m.route.name} (throttled: more than ${m.route.throttlePerMinute} a minute)`,
    ...lines.slice(0, DIGEST_LINES),
    ...more,
  ].join('\n');
}

/** The machine-readable events of a message, each with its own idempotency key. */
export const messageEvents = (m: NotificationMessage) =>
  m.deliveries.map((d) => ({ idempotency_key: d.deliveryId, event_key: d.eventKey, ...d.event }));
