export interface BackoffOptions {
  /** First wait. Default 1 s. */
  initialMs?: number;
  /** Longest wait. Default 60 s. */
  maxMs?: number;
  /** Growth per failed attempt. Default 1.5. */
  multiplier?: number;
  /** Each wait is randomized by ±this fraction, so a fleet does not reconnect in step. Default 0.2. */
  jitter?: number;
}

/** Exponential backoff with jitter, as in the nodelink agent (1 s, x1.5, up to 60 s). */
export class ReconnectBackoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = options.initialMs ?? 1_000;
    this.maxMs = options.maxMs ?? 60_000;
    this.multiplier = options.multiplier ?? 1.5;
    this.jitter = options.jitter ?? 0.2;
  }

  /** How long to wait before the next attempt; each call lengthens the following one. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.multiplier ** this.attempt);
    this.attempt++;
    const jittered = base * (1 - this.jitter + 2 * this.jitter * this.random());
    return Math.round(Math.min(this.maxMs, jittered));
  }

  /** After a healthy connection: the next wait is the initial one again. */
  reset(): void {
    this.attempt = 0;
  }
}
