/** The dependencies a service can find hung. */
export type Dependency = 'postgres' | 'redis';

/** A dependency declared hung: since when it stopped answering in time, and the last timeout. */
export interface HangReport {
  dependency: Dependency;
  /** The first timeout of the run of timeouts that ended in the hang. */
  since: Date;
  /** The last timeout seen before the hang was declared: the operation and what it said. */
  reason: string;
}

export interface DependencyWatchOptions {
  dependency: Dependency;
  /** DEPENDENCY_HUNG_AFTER_MS: after a timeout with no answer since, how long before the probe decides. */
  hungAfterMs: number;
  /** DEPENDENCY_PROBE_INTERVAL_MS: how often the probe runs while suspect or hung, and how long it may take. */
  probeIntervalMs: number;
  /**
   * Whether the dependency answers in time now, or has answered since `afterMs` (epoch ms):
   * a bounded query of the kind that timed out, or a reader's last successful read. A
   * rejection, or no answer within probeIntervalMs, counts as "no".
   */
  probe: (afterMs: number) => Promise<boolean> | boolean;
  /** Each timeout, by operation (for the tripwire_*_dependency_timeouts_total counter). */
  onTimeout?: (operation: string) => void;
  onHung?: (report: HangReport) => void;
  onRecovered?: (report: HangReport, at: Date) => void;
}

/**
 * Decides when timeouts of one dependency mean it is hung, so one slow statement or one
 * burst of timeouts from a short stall cuts nothing, while a dependency that stays silent is
 * routed around:
 *
 * 1. a timeout makes the dependency *suspect* (later timeouts join the same run);
 * 2. any successful answer of the watched operations clears it (`answered()`);
 * 3. `hungAfterMs` after the first timeout, if nothing answered meanwhile, the probe runs:
 *    an answer clears it; silence declares it *hung* (onHung: readiness fails, streams end);
 * 4. while hung the probe runs every `probeIntervalMs`; the first answer (probe or
 *    `answered()`) recovers it (onRecovered).
 */
export class DependencyWatch {
  private suspectSince: number | undefined;
  private lastTimeoutAt = 0;
  private lastReason = '';
  private hangReport: HangReport | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by every answer: a probe that started before one cannot declare a hang after it. */
  private answers = 0;
  private stopped = false;

  constructor(private readonly options: DependencyWatchOptions) {}

  get dependency(): Dependency {
    return this.options.dependency;
  }

  /** The hang in progress, if any. */
  get hang(): HangReport | undefined {
    return this.hangReport;
  }

  /** `operation` on this dependency did not answer in time; `detail` says how (the error's message). */
  timedOut(operation: string, detail: string): void {
    this.options.onTimeout?.(operation);
    this.lastTimeoutAt = Date.now();
    this.lastReason = `${operation}: ${detail}`;
    if (this.suspectSince !== undefined || this.stopped) return;
    this.suspectSince = this.lastTimeoutAt;
    this.schedule(this.options.hungAfterMs);
  }

  /** A watched operation succeeded: the dependency answers. */
  answered(): void {
    this.answers++;
    if (this.suspectSince === undefined) return;
    this.suspectSince = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const ended = this.hangReport;
    this.hangReport = undefined;
    if (ended) this.options.onRecovered?.(ended, new Date());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.suspectSince === undefined) return;
    const answersBefore = this.answers;
    const answering = await this.runProbe();
    if (this.stopped || this.answers !== answersBefore) return;
    if (answering) {
      this.answered();
      return;
    }
    if (!this.hangReport) {
      this.hangReport = {
        dependency: this.options.dependency,
        since: new Date(this.suspectSince),
        reason: this.lastReason,
      };
      this.options.onHung?.(this.hangReport);
    }
    this.schedule(this.options.probeIntervalMs);
  }

  /** The probe's verdict, "no" if it rejects or takes longer than probeIntervalMs. */
  private runProbe(): Promise<boolean> {
    return answerWithin(() => this.options.probe(this.lastTimeoutAt), this.options.probeIntervalMs);
  }
}

export interface DependencyWatchesOptions {
  hungAfterMs: number;
  probeIntervalMs: number;
  /** Each dependency's probe (see DependencyWatchOptions.probe). */
  probes: Record<Dependency, DependencyWatchOptions['probe']>;
  /** How a failure was the dependency not answering in time, or undefined for any other failure. */
  timeoutOf: Record<Dependency, (err: unknown) => string | undefined>;
  onTimeout?: (dependency: Dependency, operation: string) => void;
  onHung?: (report: HangReport) => void;
  onRecovered?: (report: HangReport, at: Date) => void;
}

/**
 * A check's verdict within `ms`: false if it rejects or has not answered by then (a readiness
 * check on a hung dependency must say so, not hang with it).
 */
export async function answerWithin(
  check: () => Promise<boolean> | boolean,
  ms: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const verdict = Promise.resolve()
    .then(check)
    .catch(() => false);
  try {
    return await Promise.race([verdict, silence]);
  } finally {
    clearTimeout(timer);
  }
}

/** PostgreSQL's and Redis's watches, under one rule and one set of callbacks. */
export class DependencyWatches {
  readonly postgres: DependencyWatch;
  readonly redis: DependencyWatch;

  constructor(private readonly options: DependencyWatchesOptions) {
    const watch = (dependency: Dependency) =>
      new DependencyWatch({
        dependency,
        hungAfterMs: options.hungAfterMs,
        probeIntervalMs: options.probeIntervalMs,
        probe: options.probes[dependency],
        onTimeout: (operation) => options.onTimeout?.(dependency, operation),
        onHung: options.onHung,
        onRecovered: options.onRecovered,
      });
    this.postgres = watch('postgres');
    this.redis = watch('redis');
  }

  get all(): readonly DependencyWatch[] {
    return [this.postgres, this.redis];
  }

  /**
   * `operation` on `dependency` failed: a timeout when timeoutOf says so (counted, watched);
   * any other failure (refused, bad SQL) says nothing about a hang and is ignored here.
   */
  failed(dependency: Dependency, operation: string, err: unknown): void {
    const timeout = this.options.timeoutOf[dependency](err);
    if (timeout) this[dependency].timedOut(operation, timeout);
  }

  /** `failed` for one operation, as a callback (a publisher's or subscriber's onError). */
  onFailure(dependency: Dependency, operation: string): (err: unknown) => void {
    return (err) => this.failed(dependency, operation, err);
  }

  /** The first hang in progress, if any. */
  get hang(): HangReport | undefined {
    return this.postgres.hang ?? this.redis.hang;
  }

  /** For /readyz: not ready while either is hung, and why. */
  readiness(): ReturnType<typeof hangChecks> {
    return hangChecks(this.all);
  }

  stop(): void {
    for (const watch of this.all) watch.stop();
  }
}

/**
 * The readiness view of some watches: not ready while any is hung, and one check per
 * dependency (`postgres_hung`, `redis_hung`): false, or since when and why.
 */
export function hangChecks(watches: readonly DependencyWatch[]): {
  hung: boolean;
  checks: Record<string, boolean | string>;
} {
  const checks: Record<string, boolean | string> = {};
  let hung = false;
  for (const watch of watches) {
    const report = watch.hang;
    hung ||= report !== undefined;
    checks[`${watch.dependency}_hung`] = report ? describeHang(report) : false;
  }
  return { hung, checks };
}

/** "not answering in time since <ISO time> (<operation>: <detail>)". */
export function describeHang(report: HangReport): string {
  return `not answering in time since ${report.since.toISOString()} (${report.reason})`;
}
