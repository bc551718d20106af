// Alerts per minute by severity over the last hour: loaded from the API, then counted live.
import type { Severity } from '@tripwire/wire';
import type { Alert, MinuteBucket } from './api.js';

export const RATE_MINUTES = 60;
const MINUTE_MS = 60_000;

export class AlertRate {
  /** Start of each minute (ms), oldest first. */
  minutes: number[] = [];
  counts: Record<Severity, number[]> = { INFO: [], WARN: [], CRITICAL: [] };
  /** Alerts received before this time are in the loaded buckets already. */
  private loadedUpTo = 0;

  constructor() {
    this.fill([], Date.now());
  }

  /** Replaces everything with the API's buckets, which count alerts received before `asOf`. */
  fill(buckets: MinuteBucket[], asOf: number) {
    const last = Math.floor(asOf / MINUTE_MS) * MINUTE_MS;
    this.minutes = Array.from(
      { length: RATE_MINUTES },
      (_, i) => last - (RATE_MINUTES - 1 - i) * MINUTE_MS,
    );
    this.counts = {
      INFO: new Array(RATE_MINUTES).fill(0),
      WARN: new Array(RATE_MINUTES).fill(0),
      CRITICAL: new Array(RATE_MINUTES).fill(0),
    };
    for (const b of buckets) {
      const i = this.minutes.indexOf(Date.parse(b.minute));
      if (i < 0) continue;
      this.counts.INFO[i] = b.INFO;
      this.counts.WARN[i] = b.WARN;
      this.counts.CRITICAL[i] = b.CRITICAL;
    }
    this.loadedUpTo = asOf;
  }

  /** Counts live alerts; moves the window on when a new minute starts. */
  count(alerts: Alert[]) {
    for (const a of alerts) {
      const at = Date.parse(a.received_at);
      // The buckets hold alerts received before loadedUpTo: one received at it is counted here.
      if (at < this.loadedUpTo) continue;
      this.advanceTo(at);
      const i = Math.floor((at - this.minutes[0]!) / MINUTE_MS);
      if (i >= 0 && i < RATE_MINUTES) this.counts[a.severity][i]!++;
    }
  }

  advanceTo(now: number) {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    while (this.minutes.at(-1)! < minute) {
      this.minutes.push(this.minutes.at(-1)! + MINUTE_MS);
      this.minutes.shift();
      for (const s of Object.values(this.counts)) {
        s.push(0);
        s.shift();
      }
    }
  }
}
