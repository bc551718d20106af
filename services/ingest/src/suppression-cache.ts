import type { Logger } from '@tripwire/logger';
import { activeSuppressionCriteria, type NewAlert, type Queryable } from '@tripwire/storage';
import type { SuppressionCriteria } from '@tripwire/wire';
import { AlertValues, SuppressionBucket } from './suppression-match.js';

/** Reloads anyway this often: a control message lost while Redis was away is caught up. */
const RELOAD_EVERY_MS = 60_000;

export interface SuppressionCacheMetrics {
  suppressionsActive: { set(n: number): void };
  suppressionReloadFailures: { inc(): void };
  alertsSuppressed: { inc(n: number): void };
}

/** One rule's suppressions (or those for any rule), split by host. */
interface HostIndex {
  byHost: Map<string, SuppressionBucket>;
  anyHost: SuppressionBucket;
}

const newIndex = (): HostIndex => ({ byHost: new Map(), anyHost: new SuppressionBucket() });

function addTo(index: HostIndex, s: SuppressionCriteria) {
  if (s.hostId === null) return index.anyHost.add(s);
  const bucket = index.byHost.get(s.hostId) ?? new SuppressionBucket();
  index.byHost.set(s.hostId, bucket);
  bucket.add(s);
}

/**
 * Ingest's copy of the suppressions in force, matched against every alert before it is stored
 * (docs/suppressions.md). Indexed by rule name and host (most suppressions name them), then
 * by their first event_detail matcher's value (suppression-match.ts), so an alert is compared
 * only with those that could match it. Reloaded when the fan-out announces a change on the
 * control stream, and every minute; a failed reload keeps the last copy (expiry is checked at
 * match time, so an expired one never mutes).
 */
export class SuppressionCache {
  private byRule = new Map<string, HostIndex>();
  private anyRule = newIndex();
  private size = 0;
  private loading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly metrics: SuppressionCacheMetrics,
    private readonly log: Logger,
  ) {}

  /** Loads now (awaited; a failure is logged and retried by the timer), then every minute. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload(), RELOAD_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reloads; a call during a load makes one more load after it (the change may be newer). */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      this.replace(await activeSuppressionCriteria(this.db));
    } catch (err) {
      this.metrics.suppressionReloadFailures.inc();
      this.log.warn(
        { err: (err as Error).message },
        'loading suppressions failed; keeping the last',
      );
    }
  }

  /** Installs a new set (exposed for tests and benchmarks). */
  replace(all: readonly SuppressionCriteria[]): void {
    const byRule = new Map<string, HostIndex>();
    const anyRule = newIndex();
    for (const s of all) {
      let index = anyRule;
      if (s.ruleName !== null) {
        index = byRule.get(s.ruleName) ?? newIndex();
        byRule.set(s.ruleName, index);
      }
      addTo(index, s);
    }
    this.byRule = byRule;
    this.anyRule = anyRule;
    this.size = all.length;
    this.metrics.suppressionsActive.set(all.length);
  }

  /** The alerts with suppressionId set on those a suppression mutes (the same array when none). */
  apply(alerts: readonly NewAlert[]): readonly NewAlert[] {
    if (this.size === 0) return alerts;
    const now = Date.now();
    let out: NewAlert[] | undefined;
    let muted = 0;
    for (let i = 0; i < alerts.length; i++) {
      const id = this.match(alerts[i]!, now);
      if (id === undefined) continue;
      out ??= [...alerts];
      out[i] = { ...alerts[i]!, suppressionId: id };
      muted++;
    }
    if (muted) this.metrics.alertsSuppressed.inc(muted);
    return out ?? alerts;
  }

  private match(alert: NewAlert, now: number): string | undefined {
    const values = new AlertValues(alert.eventDetailJson);
    for (const index of [this.byRule.get(alert.ruleName), this.anyRule]) {
      if (!index) continue;
      for (const bucket of [index.byHost.get(alert.hostId), index.anyHost]) {
        const id = bucket?.match(alert, values, now);
        if (id !== undefined) return id;
      }
    }
    return undefined;
  }
}
