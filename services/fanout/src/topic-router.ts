import {
  type FilterSubject,
  filterKey,
  filterMatches,
  type SubscriptionFilter,
} from './subscription-filter.js';

interface Topic {
  name: string;
  filters: SubscriptionFilter[];
  sockets: number;
}

/**
 * Maps each distinct set of filters to one uWebSockets.js topic. A socket is
 * subscribed to exactly one topic, the one for the union of its
 * subscriptions, so an alert published once to every matching topic reaches
 * each socket at most once however its subscriptions overlap, and the native
 * layer does the per-socket fan-out of one encoded frame.
 */
export class TopicRouter {
  private readonly byKey = new Map<string, Topic>();
  private next = 0;

  /**
   * @param maxTopics WS_MAX_TOPICS: every published frame is matched against every topic, so
   *   their number is what a crowd of sockets with distinct filters would blow up.
   */
  constructor(private readonly maxTopics = Number.POSITIVE_INFINITY) {}

  /**
   * The topic for this set of filters (created on first use), or null when it would be a new
   * topic beyond the cap. Call release() when the socket leaves it.
   */
  acquire(filters: SubscriptionFilter[]): string | null {
    const key = [...new Set(filters.map(filterKey))].sort().join('|');
    let topic = this.byKey.get(key);
    if (!topic) {
      if (this.byKey.size >= this.maxTopics) return null;
      topic = { name: `alerts/${(this.next++).toString(36)}`, filters, sockets: 0 };
      this.byKey.set(key, topic);
    }
    topic.sockets++;
    return topic.name;
  }

  release(name: string): void {
    for (const [key, topic] of this.byKey) {
      if (topic.name !== name) continue;
      if (--topic.sockets === 0) this.byKey.delete(key);
      return;
    }
  }

  /** Every topic whose filter set lets this alert (or incident) through. */
  matching(subject: FilterSubject): string[] {
    const names: string[] = [];
    for (const topic of this.byKey.values()) {
      if (topic.filters.some((f) => filterMatches(f, subject))) names.push(topic.name);
    }
    return names;
  }

  get size(): number {
    return this.byKey.size;
  }
}
