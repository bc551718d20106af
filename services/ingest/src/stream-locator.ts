import type { Bus } from '@tripwire/bus';
import { markAlertsPublished, type Queryable } from '@tripwire/storage';
import type { IngestMetrics } from './ingest-metrics.js';

/** The stream is searched from this long before the earliest alert was stored (clock skew). */
const SLACK_MS = 5_000;
/** Entries read at most per search (each holds one publisher's chunk). */
const MAX_ENTRIES = 5_000;

/** An unmarked alert that is about to be published again. */
export interface UnmarkedAlert {
  alertId: string;
  receivedAt: Date;
}

export interface LocatedAlerts {
  /** Found in the stream, and now marked there. */
  found: Set<string>;
  /** When the stream's current epoch began (Redis clock, ms); null if unknown. */
  epochStartedMs: number | null;
  epoch: string | null;
}

/**
 * Before an unmarked alert is published again (a resend, or the republish sweep), looks for it
 * in the event stream: an instance that died between the append and the mark (or whose chunk a
 * hung Redis ran after it died) left it on the bus unmarked. One found is marked where it is,
 * so the ledger keeps the position browsers saw it at (a resume from PostgreSQL compares it)
 * and the bus carries no second copy. Searching costs one XRANGE from when the earliest of them
 * was stored to now, only ever for unmarked alerts (an instance died); a failed search finds
 * nothing, and the alerts are published again as before (the fan-out drops the copy).
 */
export class StreamLocator {
  constructor(
    private readonly bus: Bus,
    private readonly keyPrefix: string,
    private readonly db: Queryable,
    private readonly metrics: IngestMetrics,
  ) {}

  async markFound(alerts: readonly UnmarkedAlert[]): Promise<LocatedAlerts> {
    const none: LocatedAlerts = { found: new Set(), epochStartedMs: null, epoch: null };
    if (alerts.length === 0 || !this.bus.locateAlerts) return none;
    const fromMs = Math.min(...alerts.map((a) => a.receivedAt.getTime())) - SLACK_MS;
    const ids = new Set(alerts.map((a) => a.alertId));
    const search = await this.bus.locateAlerts(this.keyPrefix, fromMs, ids, MAX_ENTRIES);
    if (search.found.size > 0) {
      await markAlertsPublished(
        this.db,
        [...search.found].map(([alertId, at]) => ({
          alertId,
          busEpoch: at.epoch,
          busOffset: at.offset,
        })),
      );
      this.metrics.foundOnBus.inc(search.found.size);
    }
    return {
      found: new Set(search.found.keys()),
      epoch: search.epoch,
      epochStartedMs: search.epochStartedMs,
    };
  }
}
