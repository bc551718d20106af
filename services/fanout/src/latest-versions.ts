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
