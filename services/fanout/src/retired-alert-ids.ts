/** One alert the window held before it was cleared: where it was in the stream, and its id. */
export interface RetiredAlert {
  epoch: string | null;
  offset: bigint;
  appendedAtMs: number;
  alertId: string;
}

/**
 * The ids of the alerts a cleared window held (a reset to a new epoch, or a gap), without their
 * frames: what lets a resume served from PostgreSQL after the clear still leave out the alerts
 * the browser had (those at or before its `since`), instead of sending the overlap margin's
 * worth again. Bounded like the window: at most `maxEntries` ids, none older than `windowMs`
 * (about 100 bytes each: 5 MB at the default 50,000).
 */
export class RetiredAlertIds {
  private alerts: RetiredAlert[] = [];

  constructor(
    private readonly maxEntries: number,
    private readonly windowMs: number,
  ) {}

  get size(): number {
    return this.alerts.length;
  }

  /** Keeps `alerts` (oldest first), after those already kept, within the bounds. */
  retire(alerts: RetiredAlert[]): void {
    const cutoff = Date.now() - this.windowMs;
    const kept = this.alerts.concat(alerts).filter((a) => a.appendedAtMs >= cutoff);
    this.alerts = kept.length > this.maxEntries ? kept.slice(-this.maxEntries) : kept;
  }

  /**
   * The ids of the alerts of `epoch` at or before `offset`, appended at or after `fromMs`:
   * alerts a browser whose position is `<epoch>:…-<offset>` had.
   */
  atOrBefore(epoch: string, offset: bigint, fromMs: number, into: Set<string>): void {
    for (const a of this.alerts) {
      if (a.epoch === epoch && a.offset <= offset && a.appendedAtMs >= fromMs) into.add(a.alertId);
    }
  }
}
