import { setTimeout as sleep } from 'node:timers/promises';
import { type AppendedAt, alertIdOf } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import {
  markAlertsPublished,
  type PublishedAlert,
  type Queryable,
  unpublishedAlertIds,
} from '@tripwire/storage';
import type { IngestMetrics } from './ingest-metrics.js';

export interface PublishMarksLimits {
  /** Ids waiting for their UPDATE; beyond it the oldest are dropped (counted). */
  maxPending: number;
  /** Ids per UPDATE. */
  maxPerUpdate: number;
  /** Longest a resend lookup waits for this instance's own pending marks. */
  maxWaitMs: number;
}

export const DEFAULT_PUBLISH_MARKS_LIMITS: PublishMarksLimits = {
  maxPending: 100_000,
  maxPerUpdate: 5_000,
  maxWaitMs: 2_000,
};

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

/**
 * The idempotency ledger's "published" marks: written once Redis confirmed an alert's append,
 * read when an agent resends, so a resend is published again only if it never reached the bus
 * (AlertIntake). Fed by the event publisher's onPublished, off the acknowledgement path: at most
 * one UPDATE is in flight, and whatever Redis confirms meanwhile goes into the next one, so
 * under load one UPDATE covers several published chunks.
 *
 * An instance that stops between an append and its mark leaves the alert unmarked: a resend of
 * it is then published again, and the fan-out drops that copy (docs/fanout.md#exactly-once).
 */
export class PublishMarks {
  private pending: PublishedAlert[] = [];
  private writing: Promise<void> | undefined;
  private stopped = false;
  /** Ids ever handed over, and ids written or dropped since: the queue is FIFO. */
  private handedOver = 0;
  private settledCount = 0;
  private waiters: Array<{ through: number; done: () => void }> = [];

  constructor(
    private readonly db: Queryable,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
    private readonly limits: PublishMarksLimits = DEFAULT_PUBLISH_MARKS_LIMITS,
  ) {}

  /**
   * The event publisher's onPublished: the alerts among these messages are in the stream,
   * message i at offset `at.firstOffset + i` of epoch `at.epoch` (what a resume from PostgreSQL
   * compares with the browser's position).
   */
  published(messages: readonly string[], at: AppendedAt): void {
    if (this.stopped) return;
    for (let i = 0; i < messages.length; i++) {
      const alertId = alertIdOf(messages[i]!);
      if (alertId === null) continue;
      this.pending.push({ alertId, busEpoch: at.epoch, busOffset: at.firstOffset + BigInt(i) });
      this.handedOver++;
    }
    this.dropExcess();
    if (this.pending.length > 0) this.writing ??= this.writeAll();
  }

  /**
   * Of these resent alert ids, the ones the ledger does not mark published, with when each was
   * stored. This instance's own marks handed over so far are written first (bounded wait), so
   * a resend of an alert it published itself is not published again.
   */
  async unpublished(alertIds: readonly string[]): Promise<Map<string, Date>> {
    if (alertIds.length === 0) return new Map();
    await this.written(this.handedOver);
    return unpublishedAlertIds(this.db, alertIds);
  }

  /**
   * At shutdown, before the pool closes: resolves once every mark handed over is written, or
   * after `timeoutMs` (what is left is counted as dropped).
   */
  async settle(timeoutMs: number): Promise<void> {
    if (this.writing)
      await Promise.race([this.writing, sleep(timeoutMs, undefined, { ref: false })]);
    this.stopped = true;
    if (this.pending.length > 0) {
      this.metrics.publishMarksDropped.inc(this.pending.length);
      this.log.warn(
        { unmarked: this.pending.length },
        'stopping with published alerts not yet marked: a resend of one is published again',
      );
      this.advance(this.pending.length);
      this.pending = [];
    }
  }

  /** Resolves once the first `through` ids handed over are written or dropped (bounded). */
  private written(through: number): Promise<void> {
    if (this.settledCount >= through) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { through, done: resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, this.limits.maxWaitMs).unref();
    });
  }

  private advance(count: number): void {
    this.settledCount += count;
    if (this.waiters.length === 0) return;
    const still = this.waiters.filter((w) => w.through > this.settledCount);
    for (const w of this.waiters) if (w.through <= this.settledCount) w.done();
    this.waiters = still;
  }

  private async writeAll(): Promise<void> {
    let failures = 0;
    while (this.pending.length > 0 && !this.stopped) {
      const marks = this.pending.splice(0, this.limits.maxPerUpdate);
      const started = performance.now();
      try {
        await markAlertsPublished(this.db, marks);
        this.metrics.publishMarkDuration.observe((performance.now() - started) / 1000);
        this.metrics.publishMarks.inc(marks.length);
        this.advance(marks.length);
        failures = 0;
      } catch (err) {
        // Back in front, oldest first, so the cap drops the oldest if PostgreSQL stays away.
        this.pending = marks.concat(this.pending);
        this.dropExcess();
        failures++;
        this.metrics.publishMarkFailures.inc();
        if (failures === 1) {
          this.log.warn(
            { err: (err as Error).message, pending: this.pending.length },
            'marking published alerts in the ledger failed; retrying',
          );
        }
        await sleep(Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS));
      }
    }
    this.writing = undefined;
  }

  private dropExcess(): void {
    const excess = this.pending.length - this.limits.maxPending;
    if (excess <= 0) return;
    this.pending.splice(0, excess);
    this.metrics.publishMarksDropped.inc(excess);
    this.advance(excess);
  }
}
