// Carries out each scheduled fault and its repair. Faults on the same thing (one ingest, the
// Redis server, ...) wait for each other; faults on different things overlap freely.
import type { AgentFleet } from './agent-fleet.js';
import type { ChaosStack } from './chaos-stack.js';
import type { ScheduledFault } from './fault-schedule.js';
import { sleep } from './wait-for.js';

export interface FaultLogEntry extends ScheduledFault {
  /** Seconds into the run when it really began (it may have waited for an earlier fault). */
  startedS: number;
  note: string;
}

export class FaultInjector {
  readonly log: FaultLogEntry[] = [];
  private readonly busy = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly stack: ChaosStack,
    private readonly fleet: AgentFleet,
    private readonly t0: number,
  ) {}

  /** Starts the fault (after any earlier one on the same thing); settled() waits for all. */
  inject(fault: ScheduledFault) {
    const subject = subjectOf(fault);
    const run = (this.busy.get(subject) ?? Promise.resolve()).then(() => this.apply(fault));
    this.busy.set(subject, run);
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  async settled() {
    while (this.pending.size) await Promise.all(this.pending);
  }

  private async apply(fault: ScheduledFault) {
    const entry: FaultLogEntry = { ...fault, startedS: (Date.now() - this.t0) / 1000, note: '' };
    this.log.push(entry);
    const { stack, fleet } = this;
    const down = () => sleep(fault.forMs);
    switch (fault.kind) {
      case 'ingest-kill':
      case 'fanout-kill': {
        const instance = (fault.kind === 'ingest-kill' ? stack.ingests : stack.fanouts)[
          fault.target
        ]!;
        await instance.process.kill9();
        await down();
        if (!(await instance.process.start())) entry.note = 'not ready 30 s after its restart';
        break;
      }
      case 'agent-kill':
        await fleet.kill9(fault.target);
        await down();
        fleet.restart(fault.target);
        break;
      case 'redis-restart':
        await stack.redis.kill();
        await down();
        await stack.redis.start();
        break;
      case 'redis-hang':
        stack.redis.freeze();
        await down();
        stack.redis.thaw();
        break;
      case 'fanout-redis-cut': {
        const proxy = stack.fanouts[fault.target]!.redisProxy;
        proxy.cut('blackhole');
        await down();
        proxy.restore();
        break;
      }
      case 'pg-cut': {
        const proxies = [...stack.ingests, ...stack.fanouts].map((s) => s.pgProxy);
        for (const p of proxies) p.cut('reset');
        await down();
        for (const p of proxies) p.restore();
        break;
      }
    }
  }
}

function subjectOf(fault: ScheduledFault): string {
  switch (fault.kind) {
    case 'ingest-kill':
      return `ingest-${fault.target}`;
    case 'fanout-kill':
      return `fanout-${fault.target}`;
    case 'fanout-redis-cut':
      return `fanout-redis-${fault.target}`;
    case 'agent-kill':
      return `agent-${fault.target}`;
    case 'redis-restart':
    case 'redis-hang':
      return 'redis';
    case 'pg-cut':
      return 'pg';
  }
}
