// Backpressure for the messages the server writes on a gRPC stream. grpc-js server streams are in
// object mode: their writableLength and highWaterMark count messages, not bytes, so a client that
// stops reading would make the server buffer without end. This counts the bytes of messages
// written but not yet handed to HTTP/2 (write callback pending), honours write()'s return value
// and 'drain', and tells the owner to cut the client off once the bytes pass the budget.
import type { Writable } from 'node:stream';

export type WriteOutcome = 'written' | 'skipped' | 'over_budget';

export class WriteBudget<T> {
  private pendingBytes = 0;
  private blocked = false;
  private overBudget = false;

  constructor(
    private readonly stream: Pick<Writable, 'write' | 'once'>,
    private readonly maxBytes: number,
  ) {}

  /** Bytes written and not yet flushed to the transport. */
  get pending(): number {
    return this.pendingBytes;
  }

  /**
   * Writes `message` (of about `bytes` on the wire). A non-essential message (a ping) is
   * skipped while the stream is backed up. 'over_budget' means the message was not written:
   * the client has stopped reading and the caller should end the call.
   */
  write(message: T, bytes: number, essential = true): WriteOutcome {
    if (this.overBudget) return 'over_budget';
    if (!essential && this.blocked) return 'skipped';
    // One message alone always goes (it is bounded by GRPC_MAX_MESSAGE_BYTES).
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxBytes) {
      this.overBudget = true;
      return 'over_budget';
    }
    this.pendingBytes += bytes;
    const ok = this.stream.write(message, () => {
      this.pendingBytes -= bytes;
    });
    if (!ok && !this.blocked) {
      this.blocked = true;
      this.stream.once('drain', () => {
        this.blocked = false;
      });
    }
    return 'written';
  }
}
