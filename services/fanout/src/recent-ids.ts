/** The last `capacity` ids seen, for dropping repeats; the oldest are forgotten first. */
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** False when the id was already among the recent ones. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    if (this.order.length < this.capacity) {
      this.order.push(id);
    } else {
      this.ids.delete(this.order[this.next]!);
      this.order[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    this.ids.add(id);
    return true;
  }
}

/** The highest version seen per key, for the last `capacity` keys; the oldest are forgotten first. */
export class LatestVersions {
  private readonly versions = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** False when a higher version of `key` was already seen (the version is then stale). */
  offer(key: string, version: number): boolean {
    const known = this.versions.get(key);
    if (known !== undefined && version < known) return false;
    // Re-inserted, so the Map's insertion order is least recently updated first.
    this.versions.delete(key);
    this.versions.set(key, version);
    if (this.versions.size > this.capacity) {
      this.versions.delete(this.versions.keys().next().value!);
    }
    return true;
  }
}
