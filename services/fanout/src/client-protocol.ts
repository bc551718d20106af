import { jsonNestedDeeperThan, MAX_JSON_DEPTH } from '@tripwire/wire';
import {
  FilterError,
  filterFromQuery,
  parseFilter,
  type SubscriptionFilter,
} from './subscription-filter.js';

/** What a browser may send on /ws/alerts. */
export type ClientMessage =
  | { type: 'subscribe'; subscription_id: string; filters: SubscriptionFilter }
  | { type: 'unsubscribe'; subscription_id: string }
  | { type: 'ping'; timestamp: string | null };

/** A refused client frame: `code` is stable, `message` says what to fix. */
export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly subscriptionId?: string,
  ) {
    super(message);
  }
}

const SUBSCRIPTION_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export function parseClientMessage(text: string, maxFilterEntries: number): ClientMessage {
  if (jsonNestedDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ProtocolError('invalid_message', `frame is nested over ${MAX_JSON_DEPTH} deep`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError('invalid_json', 'frame is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError('invalid_message', 'frame must be a JSON object with a "type"');
  }
  const msg = raw as Record<string, unknown>;
  const id = msg.subscription_id;
  const needId = () => {
    if (typeof id !== 'string' || !SUBSCRIPTION_ID.test(id)) {
      throw new ProtocolError(
        'invalid_subscription_id',
        'subscription_id must be 1-64 characters of A-Z a-z 0-9 _ . : -',
      );
    }
    return id;
  };
  switch (msg.type) {
    case 'subscribe': {
      const subscriptionId = needId();
      try {
        return {
          type: 'subscribe',
          subscription_id: subscriptionId,
          filters: parseFilter(msg.filters, maxFilterEntries),
        };
      } catch (err) {
        if (err instanceof FilterError)
          throw new ProtocolError('invalid_filter', err.message, subscriptionId);
        throw err;
      }
    }
    case 'unsubscribe':
      return { type: 'unsubscribe', subscription_id: needId() };
    case 'ping':
      return {
        type: 'ping',
        timestamp: typeof msg.timestamp === 'string' ? msg.timestamp.slice(0, 64) : null,
      };
    default:
      throw new ProtocolError(
        'unknown_type',
        `unknown message type ${JSON.stringify(msg.type)?.slice(0, 40)}: use subscribe, unsubscribe or ping`,
      );
  }
}

/**
 * The subscriptions a socket starts with, from the upgrade's query string:
 * `subscriptions=` (a JSON array of {subscription_id, filters}) for several at
 * once, e.g. alerts under one filter and every incident, so a resume replays
 * both; otherwise one "default" subscription from kind, severity, type and
 * host_id. Throws FilterError.
 */
export function subscriptionsFromQuery(
  query: URLSearchParams,
  maxFilterEntries: number,
  maxSubscriptions: number,
): Map<string, SubscriptionFilter> {
  const json = query.get('subscriptions');
  if (json === null) return new Map([['default', filterFromQuery(query, maxFilterEntries)]]);
  if (['kind', 'severity', 'type', 'host_id'].some((name) => query.has(name))) {
    throw new FilterError('use either subscriptions= or kind/severity/type/host_id, not both');
  }
  if (jsonNestedDeeperThan(json, MAX_JSON_DEPTH)) {
    throw new FilterError(`subscriptions is nested over ${MAX_JSON_DEPTH} deep`);
  }
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    throw new FilterError('subscriptions must be a JSON array of {subscription_id, filters}');
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > maxSubscriptions) {
    throw new FilterError(
      `subscriptions must be a JSON array of 1 to ${maxSubscriptions} {subscription_id, filters}`,
    );
  }
  const subscriptions = new Map<string, SubscriptionFilter>();
  for (const item of list as Array<Record<string, unknown> | null>) {
    const id = item?.subscription_id;
    if (typeof id !== 'string' || !SUBSCRIPTION_ID.test(id) || subscriptions.has(id)) {
      throw new FilterError(
        'each subscription needs its own subscription_id of 1-64 characters of A-Z a-z 0-9 _ . : -',
      );
    }
    subscriptions.set(id, parseFilter(item?.filters, maxFilterEntries));
  }
  return subscriptions;
}
