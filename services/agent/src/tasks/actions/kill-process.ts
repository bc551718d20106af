import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { type KillProcess, KillSignal, TaskStatus } from '@tripwire/proto';
import { parseProcStat } from '../../sensors/proc-processes.js';
import { TaskRefusal } from '../task-inputs.js';

/** How long the agent watches for the process to go after the signal. */
const EXIT_WAIT_MS = 2_000;
/** Linux's largest pid (pid_max can be at most 2^22). */
const PID_MAX = 4_194_304;

/** The process as /proc shows it now: its start time and state, or null when it is gone. */
async function readIdentity(
  procRoot: string,
  pid: number,
): Promise<{ startTicks: number; state: string; ppid: number } | null> {
  try {
    const stat = parseProcStat(await readFile(join(procRoot, String(pid), 'stat'), 'utf8'));
    return stat && { startTicks: stat.startTicks, state: stat.state, ppid: stat.ppid };
  } catch {
    return null;
  }
}

/** pid 1, kernel threads, the agent and its parent (its service manager) are never killed. */
function checkTarget(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0 || pid > PID_MAX)
    throw new TaskRefusal(`pid must be a whole number from 2 to ${PID_MAX}`);
  if (pid === 1) throw new TaskRefusal('pid 1 (init) is never killed');
  if (pid === process.pid) throw new TaskRefusal("that is the agent's own pid");
  if (pid === process.ppid) throw new TaskRefusal("that is the agent's parent (its supervisor)");
}

/**
 * Signals one process, only if it is still the one the operator saw: /proc/<pid>/stat must show
 * the start time given, so a pid reused by another process since is refused. (The check and
 * the kill are microseconds apart; a pid wrapping around in between is not a practical risk.)
 */
export async function killProcess(
  params: KillProcess,
  _ctx: TaskContext,
  procRoot: string,
): Promise<TaskOutcome> {
  const { pid } = params;
  checkTarget(pid);
  if (!(params.startTicks > 0))
    throw new TaskRefusal(
      'start_ticks is required (field 22 of /proc/<pid>/stat, as process_list shows it)',
    );
  const seen = await readIdentity(procRoot, pid);
  if (!seen) throw new TaskRefusal(`no process ${pid} is running`);
  if (seen.ppid === 2 || pid === 2) throw new TaskRefusal(`${pid} is a kernel thread`);
  if (seen.startTicks !== params.startTicks)
    throw new TaskRefusal(
      `pid ${pid} is now another process (start_ticks ${seen.startTicks}, not ${params.startTicks}); nothing was killed`,
    );
  const signal = params.signal === KillSignal.KILL_SIGNAL_SIGTERM ? 'SIGTERM' : 'SIGKILL';
  process.kill(pid, signal);
  const exited = await waitForExit(procRoot, pid, params.startTicks);
  return {
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    response: { $case: 'killProcess', killProcess: { pid, signal, exited } },
  };
}

/** Gone, a zombie, or replaced: the process the operator meant has ended. */
async function waitForExit(procRoot: string, pid: number, startTicks: number): Promise<boolean> {
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (;;) {
    const now = await readIdentity(procRoot, pid);
    if (!now || now.state === 'Z' || now.startTicks !== startTicks) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}
