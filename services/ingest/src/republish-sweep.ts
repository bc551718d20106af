import type { BusPublisher } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import {
  advanceSweep,
  endSweepTurn,
  forgetIngestInstance,
  markAlertsPublishedElsewhere,
  probeIngestInstances,
  type Queryable,
  type SweptAlert,
  sweepPage,
  tryTakeSweepTurn,
} from '@tripwire/storage';
import { alertMessage } from './alert-message.js';
import type { IngestConfig } from './config.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { InstanceLifeline } from './instance-lifeline.js';
import type { PublishMarks } from './publish-marks.js';
import type { StreamLocator } from './stream-locator.js';

/** Ledger rows looked at per statement. */
const PAGE_ROWS = 2_000;
/** How long a republished page may take to reach Redis before the round gives up. */
const PUBLISH_WAIT_MS = 5_000;

export interface RepublishSweepDeps {
  lifeline: InstanceLifeline;
  pool: Queryable;
  /** The event stream's publisher: what it appends is marked in the ledger (PublishMarks). */
  publisher: BusPublisher;
  /** Searched first: what the dead instance did append is marked where it is, not republished. */
  locator: StreamLocator;
  marks: PublishMarks;
  metrics: IngestMetrics;
  log: Logger;
  config: Pick<
    IngestConfig,
    | 'INGEST_SWEEP_INTERVAL_MS'
    | 'INGEST_SWEEP_GRACE_MS'
    | 'INGEST_SWEEP_HORIZON_S'
    | 'INGEST_SWEEP_MAX_ROWS'
    | 'INGEST_SWEEP_OVERLAP_MS'
  >;
}

/**
 * Republishes what a dead ingest instance stored but never got on the bus (docs/ingest.md, "The
 * republish sweep"). While Redis fails, an instance acknowledges stored alerts without waiting
 * for their publish; if it dies before its backlog drains, their agents never resend them. Every
 * INGEST_SWEEP_INTERVAL_MS one instance at a time (an advisory lock) probes the others'
 * lifelines; one found dead for INGEST_SWEEP_GRACE_MS has its span of the ledger walked in
 * pages, and its rows still unmarked are published again through the normal publisher, in the
 * order they were stored, except those the stream holds already (a chunk the dead instance had
 * sent to a hung Redis runs when Redis wakes up): those are marked where they are. A page counts as done once the ledger marks every row of it (Redis
 * confirmed the append): only then does the sweep's cursor move, so a sweeper that dies, or a
 * Redis that fails, mid-page leaves the page to the next round (the fan-out drops the copies a
 * repeat makes, docs/fanout.md#exactly-once).
 */
export class RepublishSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Per dead instance being swept: the epochs its span's rows were marked in, so far. */
  private readonly spanEpochs = new Map<number, Set<string>>();

  constructor(private readonly deps: RepublishSweepDeps) {}

  start(): void {
    if (this.deps.config.INGEST_SWEEP_INTERVAL_MS > 0) this.schedule();
  }

  /** Stops sweeping; resolves once a round under way ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One round now (tests; the timer calls it too). */
  async sweepOnce(): Promise<void> {
    this.running = this.round();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      await this.sweepOnce();
      this.schedule();
    }, this.deps.config.INGEST_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const { lifeline, publisher, metrics, log, config } = this.deps;
    const session = lifeline.session;
    // No session: this instance cannot probe others. A backlog that does not drain: Redis is
    // failing here too, and what the sweep added would wait in memory like the dead one's did.
    if (!session || this.stopped || !(await publisher.drain(PUBLISH_WAIT_MS))) return;
    let turn = false;
    try {
      turn = await tryTakeSweepTurn(session);
      if (!turn) return;
      const others = await probeIngestInstances(
        session,
        lifeline.instanceId,
        config.INGEST_SWEEP_GRACE_MS,
      );
      let budget = config.INGEST_SWEEP_MAX_ROWS;
      for (const other of others) {
        if (!other.due || budget <= 0 || this.stopped) continue;
        budget = await this.sweepInstance(other.instanceId, budget);
      }
    } catch (err) {
      metrics.sweepFailures.inc();
      log.warn({ err: (err as Error).message }, 'republish sweep failed; retrying next round');
    } finally {
      if (turn) await endSweepTurn(session).catch(() => {});
    }
  }

  /** Sweeps `instanceId` within `budget` rows looked at; returns the budget left (0: stop). */
  private async sweepInstance(instanceId: number, budget: number): Promise<number> {
    const { pool, publisher, marks, metrics, log, config } = this.deps;
    let left = budget;
    while (left > 0 && !this.stopped) {
      const limit = Math.min(PAGE_ROWS, left);
      const page = await sweepPage(pool, instanceId, config.INGEST_SWEEP_HORIZON_S, limit);
      left -= page.scanned;
      metrics.sweepScanned.inc(page.scanned);
      const epochs = this.spanEpochs.get(instanceId) ?? new Set();
      for (const e of page.epochs) epochs.add(e);
      this.spanEpochs.set(instanceId, epochs);
      if (page.due.length > 0) {
        const missing = await this.markWhatIsOnTheBus(page.due, epochs);
        if (missing.length > 0) publisher.publishSerialized(missing.map((a) => alertMessage(a)));
        const ids = missing.map((a) => a.alertId);
        const confirmed =
          (await publisher.drain(PUBLISH_WAIT_MS)) && (await marks.unpublished(ids)).size === 0;
        if (!confirmed) {
          metrics.sweepFailures.inc();
          log.warn(
            { instanceId, alerts: ids.length },
            'republished alerts not confirmed by Redis; the next round tries them again',
          );
          return 0;
        }
        metrics.sweepRepublished.inc(missing.length);
        log.info(
          { instanceId, republished: missing.length, looked: page.due.length },
          'republished alerts a dead ingest instance stored but never got on the bus',
        );
      }
      if (page.cursor) await advanceSweep(pool, instanceId, page.cursor);
      if (page.last) {
        await forgetIngestInstance(pool, instanceId);
        this.spanEpochs.delete(instanceId);
        metrics.sweepInstances.inc();
        log.info({ instanceId }, 'dead ingest instance swept');
        break;
      }
    }
    return left;
  }

  /**
   * Marks the alerts of `due` the stream already holds, where it holds them (so a resume from
   * PostgreSQL compares the position browsers saw), and returns the ones to publish: not those
   * stored within the resumes' overlap margin before the stream's current epoch began when the
   * span shows an older epoch (its rows marked there). Redis lost its data since: one of those
   * may have been appended in the lost epoch (seen by browsers, then gone), and every browser
   * was told `stream_gap` and resumes from its last position before the reset, which sends
   * unmarked rows from the margin before that position by time (docs/fanout.md): a copy in the
   * new epoch would reach them twice. Older ones that were never published (their publish was
   * held back longer than the margin: an overloaded node) no such resume reaches: published in
   * the new epoch, a browser that did have one drops the second copy, and none goes without.
   */
  private async markWhatIsOnTheBus(
    due: SweptAlert[],
    spanEpochs: ReadonlySet<string>,
  ): Promise<SweptAlert[]> {
    const { found, epoch, epochStartedMs } = await this.deps.locator.markFound(due);
    const rest = due.filter((a) => !found.has(a.alertId));
    const reset = epochStartedMs !== null && [...spanEpochs].some((e) => e !== epoch);
    const margin = this.deps.config.INGEST_SWEEP_OVERLAP_MS;
    const beforeEpoch = (a: SweptAlert) => {
      const at = a.receivedAt.getTime();
      return reset && at < epochStartedMs! && at >= epochStartedMs! - margin;
    };
    const left = rest.filter(beforeEpoch);
    if (left.length > 0) {
      // Marked without a position: resumes send them by time, and wait for nothing.
      await markAlertsPublishedElsewhere(
        this.deps.pool,
        left.map((a) => a.alertId),
      );
      this.deps.metrics.sweepBeforeReset.inc(left.length);
    }
    return rest.filter((a) => !beforeEpoch(a));
  }
}
