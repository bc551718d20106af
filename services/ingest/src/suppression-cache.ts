import type { Logger } from '@tripwire/logger';
import { activeSuppressionCriteria, type NewAlert, type Queryable } from '@tripwire/storage';
import { type SuppressionCriteria, suppressionMatches } from '@tripwire/wire';

/** Reloads anyway this often: a control message lost while Redis was away is caught up. */
const RELOAD_EVERY_MS = 60_000;

export interface SuppressionCacheMetrics {
  suppressionsActive: { set(n: number): void };
  suppressionReloadFailures: { inc(): void };
  alertsSuppressed: { inc(n: number): void };
}

/**
 * Ingest's copy of the suppressions in force, matched against every alert before it is stored
 * (docs/suppressions.md). Indexed by rule name (most suppressions name one), so an alert is
 * compared only with those for its rule and those for any rule; event detail is parsed only
 * when a suppression that passed the cheap checks looks into it. Reloaded when the fan-out
 * announces a change on the control stream, and every minute; a failed reload keeps the last
 * copy (expiry is checked at match time, so an expired one never mutes).
 */
export class SuppressionCache {
  private byRule = new Map<string, SuppressionCriteria[]>();
  private anyRule: SuppressionCriteria[] = [];
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
    const byRule = new Map<string, SuppressionCriteria[]>();
    const anyRule: SuppressionCriteria[] = [];
    for (const s of all) {
      if (s.ruleName === null) anyRule.push(s);
      else byRule.set(s.ruleName, [...(byRule.get(s.ruleName) ?? []), s]);
    }
    this.byRule = byRule;
    this.anyRule = anyRule;
    this.metrics.suppressionsActive.set(all.length);
  }

  /** The alerts with suppressionId set on those a suppression mutes (the same array when none). */
  apply(alerts: readonly NewAlert[]): readonly NewAlert[] {
    if (this.byRule.size === 0 && this.anyRule.length === 0) return alerts;
    const now = Date.now();
    let out: NewAlert[] | undefined;
    for (let i = 0; i < alerts.length; i++) {
      const id = this.match(alerts[i]!, now);
      if (id === undefined) continue;
      out ??= [...alerts];
      out[i] = { ...alerts[i]!, suppressionId: id };
    }
    if (out) this.metrics.alertsSuppressed.inc(out.filter((a) => a.suppressionId).length);
    return out ?? alerts;
  }

  private match(alert: NewAlert, now: number): string | undefined {
    let parsed: { doc: unknown } | undefined;
    const view = {
      hostId: alert.hostId,
      ruleName: alert.ruleName,
      tripwireType: alert.tripwireType,
      severity: alert.severity,
      detail: () => {
        // Validated JSON text (event-detail.ts), parsed once per alert and only if needed.
        parsed ??= {
          doc: alert.eventDetailJson === null ? null : JSON.parse(alert.eventDetailJson),
        };
        return parsed.doc;
      },
    };
    for (const list of [this.byRule.get(alert.ruleName), this.anyRule]) {
      if (!list) continue;
      for (const s of list) if (suppressionMatches(s, view, now)) return s.suppressionId;
    }
    return undefined;
  }
}
