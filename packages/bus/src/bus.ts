import type { Redis } from 'ioredis';
import { type BusPublisher, type BusPublisherOptions, RedisBusPublisher } from './bus-publisher.js';
import {
  type BusSubscriber,
  type BusSubscriberOptions,
  RedisBusSubscriber,
} from './bus-subscriber.js';
import { locateAlerts, type StreamSearch } from './stream-search.js';

export type BusPublisherSettings = Omit<BusPublisherOptions, 'redis'>;
export type BusSubscriberSettings = Omit<BusSubscriberOptions, 'redis'>;

/**
 * What a service needs from the bus: publishers and subscribers on the shared
 * streams. Redis between processes (redisBus), or memory inside one process
 * (createMemoryBus) for the single-process stack; the services cannot tell.
 */
export interface Bus {
  publisher(settings: BusPublisherSettings): BusPublisher;
  /** Redis: one subscriber per bus, since XREAD BLOCK occupies the connection (stop() disconnects it). */
  subscriber(settings: BusSubscriberSettings): BusSubscriber;
  /** The publishing side's state for /readyz: `ready` when it works (ioredis's status for Redis). */
  status(): string;
  /**
   * Where these alerts are in the event stream (stream-search.ts), reading what was appended
   * at or after `fromMs`; absent on a bus that cannot say (memory).
   */
  locateAlerts?(
    keyPrefix: string,
    fromMs: number,
    alertIds: ReadonlySet<string>,
    maxEntries?: number,
  ): Promise<StreamSearch>;
}

export interface RedisBusConnections {
  /** Created with failFastWhileDisconnected: the publisher's backlog does the retrying. */
  publisher: Redis;
  /** A connection of the subscriber's own. */
  subscriber: Redis;
  /** Subscribers treat a read unanswered for their block time + this as a hung Redis (REDIS_COMMAND_TIMEOUT_MS). */
  replyMarginMs?: number;
}

/** The bus on Redis, over connections the caller made (createRedisClient) and closes. */
export function redisBus(connections: RedisBusConnections): Bus {
  return {
    publisher: (settings) => new RedisBusPublisher({ ...settings, redis: connections.publisher }),
    subscriber: (settings) =>
      new RedisBusSubscriber({
        replyMarginMs: connections.replyMarginMs,
        ...settings,
        redis: connections.subscriber,
      }),
    status: () => connections.publisher.status,
    locateAlerts: (keyPrefix, fromMs, alertIds, maxEntries) =>
      locateAlerts(connections.publisher, keyPrefix, fromMs, alertIds, maxEntries),
  };
}
