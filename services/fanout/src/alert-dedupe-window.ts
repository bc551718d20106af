/** Generations per window: ids are forgotten at most one generation (window / 16) late. */
const GENERATIONS = 16;

interface Generation {
  /** Stream time of its first id. */
  startMs: number;
  ids: Set<string>;
}

/**
 * The alert ids delivered during the last `windowMs` of stream time (the Redis clock, read from
 * each entry's position), for dropping a second copy of an alert: a publisher's retried chunk,
 * or a resend published again because its instance stopped between the append and marking it
 * published (docs/fanout.md#exactly-once). Bounded by time, not by count, so the guarantee does
 * not shrink as the alert rate grows: an id stays at least `windowMs` after it was delivered.
 *
 * Memory is rate × window; `maxIds` caps it. Past the cap the oldest generation goes early and
 * `onForgottenEarly` counts its ids: the window really covered is then shorter (coveredMs).
 */
export class AlertDedupeWindow {
  private readonly generations: Generation[] = [];
  private readonly generationMs: number;
  private readonly generationMaxIds: number;
  private newestMs = 0;
  private count = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxIds: number,
    private readonly onForgottenEarly: (ids: number) => void = () => {},
  ) {
    this.generationMs = Math.max(1, Math.ceil(windowMs / GENERATIONS));
    this.generationMaxIds = Math.max(1, Math.ceil(maxIds / GENERATIONS));
  }

  /** Ids remembered now. */
  get size(): number {
    return this.count;
  }

  /** How much stream time the remembered ids span now, in ms (windowMs unless the cap bit). */
  get coveredMs(): number {
    const oldest = this.generations[0];
    return oldest ? Math.min(this.windowMs, this.newestMs - oldest.startMs) : 0;
  }

  /**
   * False when `alertId` was delivered within the window before `atMs` (its entry's stream
   * time); otherwise remembers it and returns true.
   */
  add(alertId: string, atMs: number): boolean {
    for (const g of this.generations) if (g.ids.has(alertId)) return false;
    // The Redis clock never goes back within a stream; across a reset it might: keep the max.
    if (atMs > this.newestMs) this.newestMs = atMs;
    let current = this.generations[this.generations.length - 1];
    if (
      !current ||
      this.newestMs >= current.startMs + this.generationMs ||
      current.ids.size >= this.generationMaxIds
    ) {
      current = { startMs: this.newestMs, ids: new Set() };
      this.generations.push(current);
    }
    current.ids.add(alertId);
    this.count++;
    this.forgetExpired();
    return true;
  }

  private forgetExpired(): void {
    // A generation's ids all arrived before startMs + generationMs: once that is a whole window
    // ago, every one of them has been remembered for at least windowMs.
    const horizon = this.newestMs - this.windowMs;
    while (
      this.generations.length > 1 &&
      this.generations[0]!.startMs + this.generationMs <= horizon
    )
      this.count -= this.generations.shift()!.ids.size;
    while (this.count > this.maxIds && this.generations.length > 1) {
      const forgotten = this.generations.shift()!.ids.size;
      this.count -= forgotten;
      this.onForgottenEarly(forgotten);
    }
  }
}
