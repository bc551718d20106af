/**
 * Tells when a message handed to the bus publisher is in the stream, so an alert can be
 * acknowledged only once it is both committed and published: an instance killed in between
 * then leaves it unacknowledged, the agent resends it, and the next instance publishes it
 * (AlertIntake). The publisher appends its queue in order, so the message at queue position
 * p is in the stream once p messages have left the queue (published or dropped).
 *
 * While Redis is failing nobody waits (alerts are still acknowledged, as before), and no wait
 * lasts longer than `maxWaitMs`.
 */
export class PublishConfirmations {
  private waiters: Array<{ remaining: number; done: () => void }> = [];
  private failing = false;

  constructor(
    private readonly maxWaitMs: number,
    /** A wait ran its whole bound: Redis did not take the publish in time (dependency-health.ts). */
    private readonly onWaitExpired?: (waitedMs: number) => void,
  ) {}

  /** The publisher's onPublished. */
  published(count: number): void {
    this.failing = false;
    this.advance(count);
  }

  /**
   * The publisher's onDropped: those left the queue too. They were the `ahead`+1-th to
   * `ahead`+count-th messages (the chunk in flight stays in front of them), so a waiter whose
   * message is in flight is not moved, and one whose message was dropped is done.
   */
  dropped(count: number, ahead = 0): void {
    this.advance(count, ahead);
  }

  /** The publisher's onError: stop holding anything back until a publish succeeds again. */
  failed(): void {
    this.failing = true;
    for (const w of this.waiters.splice(0)) w.done();
  }

  /** Resolves once the message now at `position` (1-based) of the publisher's queue is out. */
  whenPublished(position: number): Promise<void> {
    if (position <= 0 || this.failing) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        remaining: position,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.onWaitExpired?.(this.maxWaitMs);
        resolve();
      }, this.maxWaitMs);
      this.waiters.push(waiter);
    });
  }

  /** `count` messages left the queue after the first `ahead`. */
  private advance(count: number, ahead = 0): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      // Its message was among the dropped: nothing left to wait for.
      if (w.remaining > ahead) w.remaining = w.remaining > ahead + count ? w.remaining - count : 0;
      if (w.remaining <= 0) w.done();
      else still.push(w);
    }
    this.waiters = still;
  }
}
