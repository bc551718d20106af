// Processes that only burn CPU, for `--busy <n>`: the run on a crowded node. Timeouts, the
// backfill's bounded waits and every "within the margin" assumption meet a slow scheduler here
// (helpers' runs at load 20-47 found duplicates and crashes a quiet machine never showed).
import { type ChildProcess, spawn } from 'node:child_process';

export class BusyNeighbours {
  private readonly children: ChildProcess[] = [];

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    }
  }

  stop(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}
