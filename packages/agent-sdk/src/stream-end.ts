/** A gRPC call the agent half-closes at stop. */
export interface EndableStream {
  end(): void;
  cancel(): void;
  readonly ended: Promise<unknown>;
}

/**
 * Half-closes the call so the server can answer what it already has (acks, outcome acks), and
 * cancels it if the server has not ended it within `graceMs`.
 */
export async function endStream(stream: EndableStream, graceMs: number): Promise<void> {
  stream.end();
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    stream.ended.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!ended) stream.cancel();
}
