/** Without PG_STATEMENT_TIMEOUT_MS (0: no limit), a flush may run this long before it counts as stalled. */
const STALL_WITHOUT_STATEMENT_TIMEOUT_MS = 60_000;

/**
 * Alert flushes that neither finish nor fail: alerts waiting and no flush finished for
 * longer than the statement timeout allows (plus DEPENDENCY_HUNG_AFTER_MS). A PostgreSQL that
 * is stopped, or a network path that swallows packets, never sends the 57014 that
 * statement_timeout promises, and the pool's own checkout timeout never fires for a
 * connection it already handed out: this is what notices them ("the oldest pending flush
 * is older than X"). A stall counts as an `alert_flush` timeout, and a probe cannot clear
 * it while it lasts.
 */
export class FlushStall {
  private waitingSince: number | undefined;
  private stalledAt: number | undefined;
  readonly stallMs: number;

  constructor(statementTimeoutMs: number, hungAfterMs: number) {
    this.stallMs = (statementTimeoutMs || STALL_WITHOUT_STATEMENT_TIMEOUT_MS) + hungAfterMs;
  }

  /** Alerts are stuck behind a flush that has not finished (see above). */
  get stalled(): boolean {
    return this.stalledAt !== undefined;
  }

  /** A flush finished, committed or failed: flushes move. */
  finished(): void {
    this.waitingSince = undefined;
    this.stalledAt = undefined;
  }

  /** Called periodically with the alerts waiting or being written; true when a (new) stall is found. */
  check(pendingAlerts: number, now = Date.now()): boolean {
    if (pendingAlerts === 0) {
      this.finished();
      return false;
    }
    this.waitingSince ??= now;
    if (now - this.waitingSince < this.stallMs) return false;
    // Counted once per stallMs while it lasts.
    this.waitingSince = now;
    this.stalledAt ??= now;
    return true;
  }
}
