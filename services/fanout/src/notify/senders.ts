import { createHmac } from 'node:crypto';
import { DestinationError } from './destination-address.js';
import { sendEmail } from './email-sender.js';
import { messageEvents, messageText, type NotificationMessage } from './notification-message.js';
import { type PostPolicy, safePost } from './safe-post.js';

export interface SendPolicy extends PostPolicy {
  /** Seconds since the epoch, for the signature timestamp (a test can fix it). */
  now?: () => number;
}

const secretOf = (m: NotificationMessage, name: string) => {
  const v = m.route.secrets[name];
  if (!v) throw new DestinationError(`route has no ${name}`);
  return v;
};
const configString = (m: NotificationMessage, name: string, fallback?: string) => {
  const v = m.route.config[name];
  if (typeof v === 'string' && v) return v;
  if (fallback) return fallback;
  throw new DestinationError(`route has no ${name}`);
};

/** The webhook signature: HMAC-SHA256 over `${timestamp}.${body}` (docs/notifications.md). */
export function webhookSignature(secret: string, timestamp: string, body: string) {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

async function sendWebhook(m: NotificationMessage, policy: SendPolicy) {
  const body = JSON.stringify({
    idempotency_key: m.idempotencyKey,
    route: m.route.name,
    digest: m.digest,
    text: messageText(m, 'none'),
    events: messageEvents(m),
  });
  const timestamp = String(policy.now?.() ?? Math.floor(Date.now() / 1000));
  await safePost(
    configString(m, 'url'),
    body,
    {
      'idempotency-key': m.idempotencyKey,
      'x-tripwire-timestamp': timestamp,
      'x-tripwire-signature': webhookSignature(secretOf(m, 'secret'), timestamp, body),
    },
    policy,
  );
}

/** Slack incoming webhook: the URL itself is the credential, so it is kept as a secret. */
async function sendSlack(m: NotificationMessage, policy: SendPolicy) {
  const body = JSON.stringify({ text: messageText(m, 'slack') });
  await safePost(secretOf(m, 'webhook_url'), body, { 'idempotency-key': m.idempotencyKey }, policy);
}

const PD_SEVERITY: Record<string, string> = { CRITICAL: 'critical', WARN: 'warning', INFO: 'info' };
const PD_URL = 'https://events.pagerduty.com/v2/enqueue';

/**
 * PagerDuty Events v2: one PagerDuty alert per incident (dedup_key), triggered on opened and
 * escalated, resolved on resolved. A digest triggers one alert of its own.
 */
async function sendPagerDuty(m: NotificationMessage, policy: SendPolicy) {
  const first = m.deliveries[0]!.event;
  const subject = first.incident_id ?? first.alert_id;
  const resolve = !m.digest && first.event === 'resolved';
  const body = JSON.stringify({
    routing_key: secretOf(m, 'routing_key'),
    event_action: resolve ? 'resolve' : 'trigger',
    dedup_key: m.digest ? `tripwire-${m.idempotencyKey}` : `tripwire-${String(subject)}`,
    ...(resolve
      ? {}
      : {
          payload: {
            summary: messageText(m, 'none').slice(0, 1024),
            source: String(first.hostname ?? first.host_id),
            severity: PD_SEVERITY[String(first.severity)] ?? 'warning',
            component: first.tripwire_type,
            group: first.rule_name,
            custom_details: { events: messageEvents(m) },
          },
        }),
  });
  await safePost(
    configString(m, 'url', PD_URL),
    body,
    { 'idempotency-key': m.idempotencyKey },
    policy,
  );
}

const SENDERS = {
  webhook: sendWebhook,
  slack: sendSlack,
  pagerduty: sendPagerDuty,
  email: sendEmail,
} as const;

export function sendMessage(m: NotificationMessage, policy: SendPolicy): Promise<void> {
  return SENDERS[m.route.kind](m, policy);
}
