import type { Logger } from '@tripwire/logger';
import { activeSuppressionCriteria, type NewAlert, type Queryable } from '@tripwire/storage';
import { type DetailMatcher, detailValueAt, type SuppressionCriteria } from '@tripwire/wire';

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
/** A matcher with its path's lookup key, so alerts look each distinct path up once. */
interface CompiledMatcher extends DetailMatcher {
  key: string;
}
interface Compiled {
  s: SuppressionCriteria;
  matchers: CompiledMatcher[];
}
/** One rule's suppressions (or those for any rule), split by host. */
interface HostIndex {
  byHost: Map<string, Compiled[]>;
  anyHost: Compiled[];
}

const newIndex = (): HostIndex => ({ byHost: new Map(), anyHost: [] });

function addTo(index: HostIndex, c: Compiled) {
  const host = c.s.hostId;
  if (host === null) index.anyHost.push(c);
  else index.byHost.set(host, [...(index.byHost.get(host) ?? []), c]);
}

/**
 * Ingest's copy of the suppressions in force, matched against every alert before it is stored
 * (docs/suppressions.md). Indexed by rule name and host (most suppressions name them), so an
 * alert is compared only with those that could match it. Event detail is parsed only when one
 * of those looks into it, and each distinct path is looked up once per alert, however many
 * suppressions name it. Reloaded when the fan-out announces a change on the control stream,
 * and every minute; a failed reload keeps the last copy (expiry is checked at match time, so an
 * expired one never mutes).
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
      const matchers = s.detail.map((m) => ({ ...m, key: JSON.stringify(m.path) }));
      let index = anyRule;
      if (s.ruleName !== null) {
        index = byRule.get(s.ruleName) ?? newIndex();
        byRule.set(s.ruleName, index);
      }
      addTo(index, { s, matchers });
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
      for (const list of [index.byHost.get(alert.hostId), index.anyHost]) {
        if (!list) continue;
        for (const c of list) if (matches(c, alert, values, now)) return c.s.suppressionId;
      }
    }
    return undefined;
  }
}

/** An alert's event detail, parsed on first need, each path looked up once. */
class AlertValues {
  private doc: unknown;
  private parsed = false;
  private readonly byPath = new Map<string, string | undefined>();

  constructor(private readonly json: string | null) {}

  at(m: CompiledMatcher): string | undefined {
    if (this.byPath.has(m.key)) return this.byPath.get(m.key);
    if (!this.parsed) {
      this.parsed = true;
      try {
        // Validated JSON text (event-detail.ts); a clipped one may still be read as null.
        this.doc = this.json === null ? null : JSON.parse(this.json);
      } catch {
        this.doc = null;
      }
    }
    const v = detailValueAt(this.doc, m.path);
    this.byPath.set(m.key, v);
    return v;
  }
}

function matches(c: Compiled, alert: NewAlert, values: AlertValues, now: number): boolean {
  const { s } = c;
  if (s.expiresAtMs !== null && s.expiresAtMs <= now) return false;
  if (s.tripwireType !== null && s.tripwireType !== alert.tripwireType) return false;
  if (s.severity !== null && s.severity !== alert.severity) return false;
  for (const m of c.matchers) {
    const v = values.at(m);
    if (v === undefined) return false;
    if (
      m.op === 'equals'
        ? v !== m.value
        : m.op === 'prefix'
          ? !v.startsWith(m.value)
          : !v.includes(m.value)
    )
      return false;
  }
  return true;
}
