import type { HttpResponse } from 'uWebSockets.js';

/**
 * Ends a response with a body held in memory for every client (a dashboard file, the OpenAPI
 * document) without a copy per connection. uWebSockets.js's end() keeps whatever the socket
 * does not take at once in a buffer of that connection, so clients that ask and never read
 * (anyone: these need no credential) each pinned a copy of a megabyte bundle. tryEnd() writes
 * what the socket takes; the rest is written from the shared body as the client reads
 * (onWritable), and nothing more once it has gone. Call inside res.cork(), after the status and
 * headers; content-length is the body's.
 */
export function endWithSharedBody(res: HttpResponse, body: Buffer): void {
  const start = res.getWriteOffset();
  const [sent, ended] = res.tryEnd(body, body.length);
  if (sent || ended) return;
  // A response still being written needs an abort handler: the client may leave meanwhile.
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onWritable((offset) => {
    if (aborted) return true;
    const [written] = res.tryEnd(body.subarray(offset - start), body.length);
    return written;
  });
}
