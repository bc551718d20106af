import { EventEmitter } from 'node:events';
import { type InsertOutcome, insertAlerts } from './alert-store.js';
import type { NewAlert } from './models.js';
import type { Queryable } from './pool.js';

export interface AlertBatcherOptions {
  db: Queryable;
  /** Flush as soon as this many alerts wait. Default 100 (ingest passes BATCH_MAX_SIZE). */
  maxBatchSize?: number;
  /** Flush whatever waits after this long. Default 100 ms (ingest passes BATCH_MAX_DELAY_MS). */
  maxDelayMs?: number;
  /** Above this many waiting or in-flight alerts the batcher reports itself saturated. */
  highWaterMark?: number;
  /** The same in bytes (see alertBytes), default 128 MiB: whichever is reached first. */
  highWaterBytes?: number;
  /**
   * Flushes allowed in flight at once (each on its own connection). While one
   * commits, the next is already being written. Results are still delivered
   * in queue order.
   */
  maxConcurrentFlushes?: number;
  /** Correlation window for grouping alerts into incidents, seconds. */
  incidentWindowS?: number;
  /** Called after every flush attempt, for metrics (and, later, incident messages). */
  onFlush?: (info: {
    size: number;
    durationMs: number;
    error?: Error;
    incidents?: InsertOutcome['incidents'];
  }) => void;
}

export interface SubmitResult {
  stored: InsertOutcome['stored'];
  duplicates: string[];
}

interface PendingGroup {
  remaining: number;
  result: SubmitResult;
  settled: boolean;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
}

interface PendingAlert {
  alert: NewAlert;
  group: PendingGroup;
  bytes: number;
}

/** What the other fields of an alert (ids, rule name, timestamps) and its bookkeeping take, roughly. */
const ALERT_FIXED_BYTES = 256;

/** An alert's weight against the byte budget: its event detail's UTF-8 size, plus the rest. */
export const alertBytes = (alert: NewAlert): number =>
  ALERT_FIXED_BYTES +
  (alert.eventDetailJson === null ? 0 : Buffer.byteLength(alert.eventDetailJson, 'utf8'));

/**
 * Group commit for every agent stream of one ingest process. Alerts wait in
 * one queue; a flush writes up to maxBatchSize of them in one statement, at
 * the size threshold, at the timer, or on flush(). Each submit() resolves only
 * after the COMMIT that made its alerts durable, so callers acknowledge
 * nothing that is not stored. Results come back in submit order, even when
 * flushes overlap, so publishing keeps each host's order.
 *
 * Emits 'drain' when a saturated batcher falls back below half its high-water marks.
 */
export class AlertBatcher extends EventEmitter<{ drain: [] }> {
  readonly maxBatchSize: number;
  readonly maxDelayMs: number;
  readonly highWaterMark: number;
  readonly highWaterBytes: number;
  readonly maxConcurrentFlushes: number;
  private readonly db: Queryable;
  private readonly onFlush: AlertBatcherOptions['onFlush'];
  private readonly incidentWindowS: number | undefined;
  private queue: PendingAlert[] = [];
  private inFlight = 0;
  /** Bytes of the queued and in-flight alerts. */
  private bytes = 0;
  private flushesInFlight = 0;
  /** Settles flushes strictly in the order they started. */
  private settled: Promise<void> = Promise.resolve();
  private overdue = false;
  private forced = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private wasSaturated = false;

  constructor(options: AlertBatcherOptions) {
    super();
    this.db = options.db;
    this.maxBatchSize = options.maxBatchSize ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 100;
    this.highWaterMark = options.highWaterMark ?? 20_000;
    this.highWaterBytes = options.highWaterBytes ?? 128 * 1024 * 1024;
    this.maxConcurrentFlushes = options.maxConcurrentFlushes ?? 2;
    this.onFlush = options.onFlush;
    this.incidentWindowS = options.incidentWindowS;
  }

  /** Alerts waiting or being written. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Their size (alertBytes). */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** Callers stop taking alerts (streams stop being read, unary calls get RESOURCE_EXHAUSTED). */
  get saturated(): boolean {
    return this.pending >= this.highWaterMark || this.bytes >= this.highWaterBytes;
  }

  /** Queues alerts; resolves once they are committed (or known duplicates). */
  submit(alerts: readonly NewAlert[]): Promise<SubmitResult> {
    if (alerts.length === 0) return Promise.resolve({ stored: [], duplicates: [] });
    return new Promise((resolve, reject) => {
      const group: PendingGroup = {
        remaining: alerts.length,
        result: { stored: [], duplicates: [] },
        settled: false,
        resolve,
        reject,
      };
      for (const alert of alerts) {
        const bytes = alertBytes(alert);
        this.bytes += bytes;
        this.queue.push({ alert, group, bytes });
      }
      if (this.saturated) this.wasSaturated = true;
      this.pump();
    });
  }

  /** Writes everything queued now and waits for it. */
  async flush(): Promise<void> {
    if (this.pending === 0) return;
    this.forced = true;
    const idle = new Promise<void>((r) => this.idleWaiters.push(r));
    this.pump();
    await idle;
  }

  private pump(): void {
    while (this.flushesInFlight < this.maxConcurrentFlushes) {
      if (this.queue.length === 0) {
        this.clearTimer();
        this.overdue = false;
        this.forced = false;
        if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        return;
      }
      if (this.queue.length < this.maxBatchSize && !this.overdue && !this.forced) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.overdue = true;
          this.pump();
        }, this.maxDelayMs);
        return;
      }
      this.clearTimer();
      const batch = this.queue.splice(0, this.maxBatchSize);
      // Whatever is left was queued while this batch waited; it is due too.
      this.overdue = this.queue.length > 0 && this.overdue;
      this.write(batch);
    }
  }

  private write(batch: PendingAlert[]): void {
    this.flushesInFlight++;
    this.inFlight += batch.length;
    const started = performance.now();
    const outcome = insertAlerts(
      this.db,
      batch.map((p) => p.alert),
      { incidentWindowS: this.incidentWindowS },
    ).then(
      (result) => ({ result, error: undefined }),
      (error: Error) => ({ result: undefined, error }),
    );
    this.settled = this.settled
      .then(() => outcome)
      .then(({ result, error }) => {
        this.onFlush?.({
          size: batch.length,
          durationMs: performance.now() - started,
          error,
          incidents: result?.incidents,
        });
        this.flushesInFlight--;
        this.inFlight -= batch.length;
        for (const p of batch) this.bytes -= p.bytes;
        if (result) this.settle(batch, result);
        else this.fail(batch, error!);
        if (this.wasSaturated && this.belowHalf()) {
          this.wasSaturated = false;
          this.emit('drain');
        }
        this.pump();
      });
  }

  private settle(batch: PendingAlert[], outcome: InsertOutcome): void {
    const storedAt = new Map(outcome.stored.map((s) => [s.alertId, s.receivedAt]));
    for (const { alert, group } of batch) {
      if (group.settled) continue;
      const at = storedAt.get(alert.alertId);
      if (at) {
        group.result.stored.push({ alertId: alert.alertId, receivedAt: at });
        storedAt.delete(alert.alertId);
      } else {
        group.result.duplicates.push(alert.alertId);
      }
      if (--group.remaining === 0) {
        group.settled = true;
        group.resolve(group.result);
      }
    }
  }

  private fail(batch: PendingAlert[], error: Error): void {
    for (const { group } of batch) {
      if (group.settled) continue;
      group.settled = true;
      group.reject(error);
    }
  }

  /** Far enough below both marks that paused streams may read again without pausing at once. */
  private belowHalf(): boolean {
    return this.pending < this.highWaterMark / 2 && this.bytes < this.highWaterBytes / 2;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
