/**
 * Resolves as `work` does, or fails naming `what` once `limitMs` has passed. For claims like
 * "stops", "goes offline", "answers": the limit is generous (far above the expected time, which a
 * benchmark measures), so a failure means a hang, never a slow machine.
 */
export async function within<T>(work: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${limitMs} ms (hung)`)),
      limitMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
