import type { HttpResponse } from 'uWebSockets.js';

/** What a streamed response needs to know about its request: whether the client went away. */
export interface StreamState {
  aborted: boolean;
  /** Set while the stream waits for the socket to drain; onAborted calls it, so it never hangs. */
  wake?: () => void;
}

/**
 * Writes `status` and `headers`, then each chunk of `body` as it comes (chunked encoding),
 * waiting for uWebSockets.js's `onWritable` whenever the socket holds unsent data: a large
 * download never sits in memory whole, and a slow reader slows the reads. Stops when the
 * client goes away. A failure after the headers went out cannot become an error answer:
 * the connection is closed, so the client sees a broken download rather than a short one.
 */
export async function sendStream(
  res: HttpResponse,
  state: StreamState,
  status: string,
  headers: Record<string, string>,
  body: AsyncIterable<Uint8Array>,
): Promise<void> {
  res.cork(() => {
    res.writeStatus(status);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
  });
  try {
    for await (const chunk of body) {
      if (state.aborted) return;
      let drained = true;
      res.cork(() => {
        drained = res.write(chunk);
      });
      if (!drained) await writable(res, state);
      if (state.aborted) return;
    }
    res.cork(() => res.end());
  } catch (err) {
    if (!state.aborted) res.close();
    throw err;
  }
}

/** Resolves once the socket drained (or the client went away). */
function writable(res: HttpResponse, state: StreamState): Promise<void> {
  return new Promise((resolve) => {
    state.wake = () => {
      state.wake = undefined;
      resolve();
    };
    res.onWritable(() => {
      state.wake?.();
      // Nothing is retried here: the next chunk is written by the loop.
      return true;
    });
  });
}
