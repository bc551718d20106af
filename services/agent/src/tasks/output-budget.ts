/**
 * A task's output allowance in bytes: what fits is taken, the rest dropped and remembered, so
 * the final response can say the output was truncated.
 */
export class OutputBudget {
  private used = 0;
  truncated = false;

  constructor(readonly maxBytes: number) {}

  get remaining(): number {
    return this.maxBytes - this.used;
  }

  /** How many of `bytes` may still be sent (all, some, or none), counted as sent. */
  take(bytes: number): number {
    const allowed = Math.max(0, Math.min(bytes, this.remaining));
    if (allowed < bytes) this.truncated = true;
    this.used += allowed;
    return allowed;
  }
}
