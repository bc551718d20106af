// One writer per outbox, across processes. The lock is proper-lockfile's: a directory made with
// mkdir (atomic) whose mtime the holder refreshes; a lock not refreshed for `staleMs` belongs to
// a process that died (kill -9, OOM, power loss) and is taken over. No PID is ever trusted, so a
// reused PID cannot keep a dead agent's lock alive (the scheme this replaced did exactly that).
import { resolve } from 'node:path';
import { lock } from 'proper-lockfile';

export interface LockFile {
  release(): Promise<void>;
}

export interface LockFileOptions {
  /** A lock not refreshed for this long is stale. At least 2 s; default 10 s. */
  staleMs?: number;
  /**
   * Another process took the lock over (this one was stopped or its clock jumped for longer than
   * `staleMs` and a newcomer judged it dead). Writing on would mean two writers: stop.
   */
  onLost?: (err: Error) => void;
}

export const DEFAULT_LOCK_STALE_MS = 10_000;
const MIN_LOCK_STALE_MS = 2_000;
const RETRY_INTERVAL_MS = 1_000;

/** Paths this process holds: a second open here is a bug, said at once rather than after a wait. */
const heldHere = new Set<string>();

/**
 * Takes the lock directory `lockPath` for `guardedPath`. A lock held by a live process is waited
 * for until it could have gone stale (so an agent restarted right after a crash starts), then
 * refused with an error naming it.
 */
export async function acquireLockFile(
  guardedPath: string,
  lockPath: string,
  options: LockFileOptions = {},
): Promise<LockFile> {
  const key = resolve(lockPath);
  if (heldHere.has(key)) throw new Error(`${guardedPath}: already open in this process`);
  const staleMs = Math.max(MIN_LOCK_STALE_MS, options.staleMs ?? DEFAULT_LOCK_STALE_MS);
  let release: () => Promise<void>;
  try {
    release = await lock(guardedPath, {
      lockfilePath: lockPath,
      realpath: false,
      stale: staleMs,
      update: staleMs / 2,
      retries: {
        retries: Math.ceil(staleMs / RETRY_INTERVAL_MS) + 2,
        factor: 1,
        minTimeout: RETRY_INTERVAL_MS,
        maxTimeout: RETRY_INTERVAL_MS,
      },
      onCompromised: (err) => {
        heldHere.delete(key);
        options.onLost?.(err);
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED')
      throw new Error(
        `${guardedPath}: in use by another process (its lock ${lockPath} is refreshed; stop that agent first)`,
      );
    throw err;
  }
  heldHere.add(key);
  return {
    release: async () => {
      if (!heldHere.delete(key)) return;
      await release().catch(() => {});
    },
  };
}
