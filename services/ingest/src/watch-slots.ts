import { status } from '@grpc/grpc-js';
import { CallError } from './agent-auth.js';

export interface WatchLimits {
  /** TASK_WATCHES_PER_OPERATOR: WatchTask calls one operator (or API token) holds open here. */
  perOperator: number;
  /** TASK_WATCHES_MAX: WatchTask calls open on this instance, all operators together. */
  total: number;
}

/**
 * Open WatchTask calls on this instance. Each one rereads PostgreSQL every poll (the task and
 * its output) for as long as the task lives, which can be days for a queued task: without a
 * bound, one operator's script (or a stolen token) opening thousands of watches would keep the
 * database busy for every other caller. Past a bound the call is refused RESOURCE_EXHAUSTED,
 * naming it; watches already open are not touched.
 */
export class WatchSlots {
  private readonly byOperator = new Map<string, number>();
  private open = 0;

  constructor(private readonly limits: WatchLimits) {}

  /** Takes a slot for `operator`; the returned function gives it back (once). */
  acquire(operator: string): () => void {
    const held = this.byOperator.get(operator) ?? 0;
    if (held >= this.limits.perOperator)
      throw new CallError(
        status.RESOURCE_EXHAUSTED,
        `${operator} already has ${held} WatchTask calls open on this instance ` +
          `(TASK_WATCHES_PER_OPERATOR=${this.limits.perOperator}); end one, or read the task with GetTask`,
        'task_watchers',
      );
    if (this.open >= this.limits.total)
      throw new CallError(
        status.RESOURCE_EXHAUSTED,
        `this instance has ${this.open} WatchTask calls open (TASK_WATCHES_MAX); retry later`,
        'task_watchers_total',
      );
    this.byOperator.set(operator, held + 1);
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.byOperator.get(operator) ?? 1) - 1;
      if (left > 0) this.byOperator.set(operator, left);
      else this.byOperator.delete(operator);
    };
  }
}
