import type { Logger } from '@tripwire/logger';

export interface PollLoop {
  readonly running: boolean;
  start(): void;
  /** Stops the loop and waits for a poll in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Calls `poll` every `intervalMs`, never two at once: the next wait starts when a poll ends,
 * so a slow poll (a busy /proc) stretches the interval instead of piling polls up.
 */
export function createPollLoop(
  poll: () => Promise<void>,
  intervalMs: number,
  log: Logger,
): PollLoop {
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let running = false;

  const tick = (): void => {
    timer = undefined;
    inFlight = poll()
      .catch((err: unknown) => log.warn({ err }, 'poll failed'))
      .finally(() => {
        inFlight = undefined;
        if (running) timer = setTimeout(tick, intervalMs);
      });
  };

  return {
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      timer = setTimeout(tick, intervalMs);
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
