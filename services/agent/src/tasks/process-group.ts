import { type ChildProcess, spawn } from 'node:child_process';

/** After SIGTERM, a process group has this long to go before SIGKILL. */
export const TERM_GRACE_MS = 2_000;
const POLL_MS = 25;

/**
 * Spawns `file` as the leader of a new process group (and session): everything it starts stays
 * in that group unless it moves itself out (setsid), so the task is killed as a whole.
 */
export function spawnInGroup(
  file: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): ChildProcess {
  return spawn(file, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Whether any process of the group is left (zombies not yet reaped by init count). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}

/** Polls until `gone()` or the time is up; true when gone. */
export async function waitUntil(gone: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!gone()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return true;
}

/** SIGTERM to the whole group, SIGKILL to whatever is left after the grace. */
export async function killGroup(pgid: number, graceMs = TERM_GRACE_MS): Promise<void> {
  if (!(pgid > 1)) return;
  signalGroup(pgid, 'SIGTERM');
  if (await waitUntil(() => !groupAlive(pgid), graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await waitUntil(() => !groupAlive(pgid), graceMs);
}
