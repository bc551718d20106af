// Processes that only burn CPU, for `--busy <n>`: the run on a crowded node. Timeouts, the
// backfill's bounded waits and every "within the margin" assumption meet a slow scheduler here
// (helpers' runs at load 20-47 found duplicates and crashes a quiet machine never showed).
import { type ChildProcess, spawn } from 'node:child_process';

/** Burns CPU; leaves once its parent is gone (a run killed outright does not orphan it). */
const BURN =
  'const p = process.ppid; for (let i = 1; ; i++) if (i % 5e7 === 0 && process.ppid !== p) process.exit();';

export class BusyNeighbours {
  private readonly children: ChildProcess[] = [];

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.children.push(spawn(process.execPath, ['-e', BURN], { stdio: 'ignore' }));
    }
  }

  stop(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}
