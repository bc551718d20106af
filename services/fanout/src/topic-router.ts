import {
  type FilterSubject,
  filterKey,
  filterMatches,
  type SubscriptionFilter,
} from './subscription-filter.js';

interface Topic {
  key: string;
  name: string;
  filters: SubscriptionFilter[];
  sockets: number;
  /** Every host a filter of this topic names, or null when some filter takes any host. */
  hosts: string[] | null;
}

/**
 * Maps each distinct set of filters to one uWebSockets.js topic. A socket is
 * subscribed to exactly one topic, the one for the union of its
 * subscriptions, so an alert published once to every matching topic reaches
 * each socket at most once however its subscriptions overlap, and the native
 * layer does the per-socket fan-out of one encoded frame.
 *
 * Topics whose every filter names hosts are indexed by host: an alert is matched against the
 * topics of its own host and those that take any host, not against every topic, so a crowd of
 * per-host views costs each alert what its own host's topics cost (bench:scale-fanout).
 */
export class TopicRouter {
  private readonly byKey = new Map<string, Topic>();
  /** The same topics by name: a socket leaving finds its topic without a walk over all of them. */
  private readonly byName = new Map<string, Topic>();
  /** Topics with a filter that takes any host: matched against every alert. */
  private readonly anyHost = new Set<Topic>();
  private readonly byHost = new Map<string, Set<Topic>>();
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
      topic = this.create(key, filters);
    }
    topic.sockets++;
    return topic.name;
  }

  release(name: string): void {
    const topic = this.byName.get(name);
    if (!topic || --topic.sockets > 0) return;
    this.byKey.delete(topic.key);
    this.byName.delete(name);
    if (topic.hosts === null) this.anyHost.delete(topic);
    for (const host of topic.hosts ?? []) {
      const topics = this.byHost.get(host)!;
      topics.delete(topic);
      if (topics.size === 0) this.byHost.delete(host);
    }
  }

  /** Every topic whose filter set lets this alert (or incident) through. */
  matching(subject: FilterSubject): string[] {
    const names: string[] = [];
    const consider = (topic: Topic) => {
      if (topic.filters.some((f) => filterMatches(f, subject))) names.push(topic.name);
    };
    this.anyHost.forEach(consider);
    this.byHost.get(subject.host_id)?.forEach(consider);
    return names;
  }

  get size(): number {
    return this.byKey.size;
  }

  private create(key: string, filters: SubscriptionFilter[]): Topic {
    const hosts = filters.every((f) => f.host_ids.length > 0)
      ? [...new Set(filters.flatMap((f) => f.host_ids))]
      : null;
    const topic: Topic = {
      key,
      name: `alerts/${(this.next++).toString(36)}`,
      filters,
      sockets: 0,
      hosts,
    };
    this.byKey.set(key, topic);
    this.byName.set(topic.name, topic);
    if (hosts === null) this.anyHost.add(topic);
    for (const host of hosts ?? []) {
      const topics = this.byHost.get(host) ?? new Set<Topic>();
      topics.add(topic);
      this.byHost.set(host, topics);
    }
    return topic;
  }
}
