import { status } from '@grpc/grpc-js';
import type { TaskResponse } from '@tripwire/proto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CallError } from './agent-auth.js';

/** A response under this many encoded bytes costs a row and a bus message for next to no output. */
export const SMALL_RESPONSE_BYTES = 4096;

const small = (bytes: number) => bytes < SMALL_RESPONSE_BYTES;

export interface TaskStreamLimits {
  /** TASK_STREAM_SMALL_RESPONSES_PER_S: small responses one stream may send per second (0: no limit). */
  smallResponsesPerS: number;
  /** TASK_MAX_CHUNKS_PER_TASK: small output chunks stored for one task; later ones are dropped. */
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
 * - small output chunks are capped per task: past the cap they are dropped (the outcome still
 *   counts), so a slow trickle under the rate cannot add rows for hours either.
 * Large responses (a file's 64 KiB chunks) are bounded by bytes already (the output and fetch
 * caps, HTTP/2 flow control) and count against neither: a big file_fetch is never cut.
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
    if (!this.rate || !small(bytes)) return;
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

  /** Whether a chunk of `bytes` of `r`'s task may still be stored (false past the per-task cap). */
  chunkAllowed(r: TaskResponse, bytes: number): boolean {
    if (r.isFinal || r.cancelled || !r.response || !small(bytes)) return true;
    return (this.chunks.get(r.taskId) ?? 0) < this.limits.maxChunksPerTask;
  }

  /** After a response (of `bytes`) of a task of this host was stored. */
  stored(r: TaskResponse, bytes: number, outputs: number): void {
    if (r.isFinal) this.chunks.delete(r.taskId);
    else if (outputs > 0 && small(bytes))
      this.chunks.set(r.taskId, (this.chunks.get(r.taskId) ?? 0) + 1);
  }
}
