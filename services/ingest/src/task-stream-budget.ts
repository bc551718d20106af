import { status } from '@grpc/grpc-js';
import type { TaskResponse } from '@tripwire/proto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CallError } from './agent-auth.js';

/** A response under this many encoded bytes costs a row and a bus message for next to no output. */
export const SMALL_RESPONSE_BYTES = 4096;

export interface TaskStreamLimits {
  /** TASK_STREAM_SMALL_RESPONSES_PER_S: small responses one stream may send per second (0: no limit). */
  smallResponsesPerS: number;
  /** TASK_MAX_CHUNKS_PER_TASK: output chunks stored for one task; later ones are dropped. */
  maxChunksPerTask: number;
}

/**
 * What one agent's task stream may write into PostgreSQL and the bus. Every response is a
 * transaction, an output row and a bus message to every console, whatever its size: an agent
 * (or whoever holds its token) sending 1-byte chunks as fast as it can would turn a few KiB
 * of output into hundreds of thousands of rows and frames. The real agent coalesces output
 * (32 KiB or 50 ms per response); this holds whatever the agent does:
 * - small responses are rate limited per stream: past the rate the stream is ended
 *   RESOURCE_EXHAUSTED (the agent reconnects with its backoff; its outcomes are resent), so a
 *   flood costs its own stream only, never another host's tasks;
 * - output chunks are capped per task: past the cap they are dropped (the outcome still counts).
 * Large responses (a file's 64 KiB chunks) are bounded by bytes already (the output and fetch
 * caps, HTTP/2 flow control) and never count against the rate.
 */
export class TaskStreamBudget {
  private readonly rate: RateLimiterMemory | null;
  /** Chunks stored per task on this stream; only tasks of this host (unknown ids are never stored). */
  private readonly chunks = new Map<string, number>();

  constructor(private readonly limits: TaskStreamLimits) {
    this.rate =
      limits.smallResponsesPerS > 0
        ? new RateLimiterMemory({ points: limits.smallResponsesPerS, duration: 1 })
        : null;
  }

  /** Counts one response of `bytes`; throws RESOURCE_EXHAUSTED past the small-response rate. */
  async admit(bytes: number): Promise<void> {
    if (!this.rate || bytes >= SMALL_RESPONSE_BYTES) return;
    try {
      await this.rate.consume('stream');
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      throw new CallError(
        status.RESOURCE_EXHAUSTED,
        `over ${this.limits.smallResponsesPerS} task responses under ${SMALL_RESPONSE_BYTES} bytes a second on this stream ` +
          '(TASK_STREAM_SMALL_RESPONSES_PER_S): coalesce output into fewer, larger chunks',
        'task_stream_rate',
      );
    }
  }

  /** Whether an output chunk of `r`'s task may still be stored (false past the per-task cap). */
  chunkAllowed(r: TaskResponse): boolean {
    if (r.isFinal || r.cancelled || !r.response) return true;
    return (this.chunks.get(r.taskId) ?? 0) < this.limits.maxChunksPerTask;
  }

  /** After a response of a task of this host was stored. */
  stored(r: TaskResponse, outputs: number): void {
    if (r.isFinal) this.chunks.delete(r.taskId);
    else if (outputs > 0) this.chunks.set(r.taskId, (this.chunks.get(r.taskId) ?? 0) + 1);
  }
}
