import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { ProcessEntry, TaskStatus } from '@tripwire/proto';
import { readUserNames } from '../../sensors/passwd-users.js';
import {
  clockTicksPerSecond,
  listPids,
  readBootTime,
  readProcess,
  readProcLink,
} from '../../sensors/proc-processes.js';
import { ListPages } from '../list-pages.js';
import { OutputBudget } from '../output-budget.js';

const CMDLINE_BYTES = 4096;

/** Every process in /proc, in pages; the final response only ends the listing. */
export async function processList(ctx: TaskContext, procRoot: string): Promise<TaskOutcome> {
  const [pids, users, ticks, bootTime] = await Promise.all([
    listPids(procRoot),
    readUserNames(),
    clockTicksPerSecond(),
    readBootTime(procRoot).catch(() => null),
  ]);
  const budget = new OutputBudget(ctx.maxOutputBytes);
  const pages = new ListPages<ProcessEntry>(
    budget,
    (e) => ProcessEntry.encode(e).finish().length,
    (processes) => ({ $case: 'processList', processList: { processes } }),
    ctx.emit,
  );
  for (const pid of pids.sort((a, b) => a - b)) {
    if (ctx.signal.aborted) break;
    const read = await readProcess(procRoot, pid, CMDLINE_BYTES).catch(() => null);
    if (!read) continue; // exited meanwhile, or unreadable
    const { info } = read;
    const entry: ProcessEntry = {
      pid,
      ppid: info.ppid,
      uid: info.uid,
      user: users.get(info.uid) ?? '',
      comm: info.comm,
      cmdline: info.cmdline,
      exe: (await readProcLink(procRoot, pid, 'exe')) ?? '',
      startTicks: info.startTicks,
      startTimeUs:
        bootTime === null ? 0 : Math.round(bootTime * 1e6 + (info.startTicks * 1e6) / ticks),
    };
    if (!pages.add(entry)) break;
  }
  pages.flush();
  return {
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    truncated: budget.truncated,
    response: { $case: 'processList', processList: { processes: [] } },
  };
}
