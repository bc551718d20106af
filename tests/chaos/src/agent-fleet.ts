// The agents: one process each (agent-worker.ts), killed with -9 and started again on the same
// state folder during the run; the run is quiescent once every agent generated its share and
// its outbox is empty.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentWorkerConfig, WorkerMessage } from './agent-worker.js';
import { waitFor } from './wait-for.js';

/** Run from src (vitest, tsx) the worker is TypeScript; from dist it is plain JavaScript. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = fileURLToPath(
  new URL(`./agent-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url),
);
const EXEC_ARGV = FROM_SOURCE ? ['--conditions=@tripwire/source', '--import', 'tsx'] : [];

interface AgentSlot {
  config: AgentWorkerConfig;
  child: ChildProcess | null;
  hostId: string;
  last: Extract<WorkerMessage, { type: 'stats' }> | null;
  killing: boolean;
  unexpectedExits: number;
  output: string[];
}

export interface FleetOptions {
  dir: string;
  agents: number;
  alerts: number;
  durationS: number;
  servers: string;
  enrollmentToken: string;
}

export class AgentFleet {
  readonly slots: AgentSlot[] = [];
  private going = false;
  kills = 0;

  constructor(options: FleetOptions) {
    for (let index = 0; index < options.agents; index++) {
      const quota =
        Math.floor(options.alerts / options.agents) +
        (index < options.alerts % options.agents ? 1 : 0);
      const home = join(options.dir, `agent-${index}`);
      mkdirSync(home, { recursive: true });
      this.slots.push({
        config: {
          index,
          servers: options.servers,
          enrollmentToken: options.enrollmentToken,
          stateDir: join(home, 'state'),
          progressFile: join(home, 'progress.log'),
          hostname: `chaos-agent-${String(index).padStart(2, '0')}`,
          quota,
          alertsPerSecond: quota / options.durationS,
          go: false,
        },
        child: null,
        hostId: '',
        last: null,
        killing: false,
        unexpectedExits: 0,
        output: [],
      });
    }
  }

  /** Starts every agent and waits until each has registered (its host id known). */
  async start() {
    for (const slot of this.slots) this.spawn(slot);
    await waitFor(
      () => this.slots.every((s) => s.hostId !== ''),
      60_000,
      'every agent to register',
    );
  }

  /** Every agent starts generating. */
  go() {
    this.going = true;
    for (const slot of this.slots) slot.child?.send({ type: 'go' });
  }

  async kill9(index: number) {
    const slot = this.slots[index]!;
    if (!alive(slot.child)) return;
    slot.killing = true;
    const gone = new Promise((r) => slot.child!.once('exit', r));
    slot.child.kill('SIGKILL');
    await gone;
    slot.killing = false;
    slot.last = null;
    this.kills++;
  }

  restart(index: number) {
    const slot = this.slots[index]!;
    if (!alive(slot.child)) this.spawn(slot);
  }

  /** Every agent generated its share and its outbox is empty. */
  get quiescent(): boolean {
    return this.slots.every((s) => s.last?.done === true && s.last.queued === 0);
  }

  summary() {
    const queued = this.slots.reduce((n, s) => n + (s.last?.queued ?? 0), 0);
    const generated = this.slots.reduce((n, s) => n + (s.last?.generated ?? 0), 0);
    return { queued, generated };
  }

  async stop() {
    await Promise.all(
      this.slots.map(async (slot) => {
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        slot.killing = true;
        const gone = new Promise((r) => child.once('exit', r));
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.send({ type: 'stop' });
        await gone;
        clearTimeout(timer);
      }),
    );
  }

  private spawn(slot: AgentSlot) {
    const child = fork(WORKER, [], {
      execArgv: EXEC_ARGV,
      env: {
        PATH: process.env.PATH ?? '',
        CHAOS_AGENT: JSON.stringify({ ...slot.config, go: this.going }),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    slot.child = child;
    const keep = (d: Buffer) => {
      slot.output.push(String(d));
      slot.output.splice(0, Math.max(0, slot.output.length - 20));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') slot.hostId = m.hostId;
      else slot.last = m;
    });
    child.once('exit', (code, signal) => {
      if (slot.killing) return;
      slot.unexpectedExits++;
      keep(Buffer.from(`[agent ${slot.config.index} exited code=${code} signal=${signal}]`));
      // An agent that dies on its own is started again, as its service manager would (unless
      // a fault's restart got there first).
      if (code !== 0) setTimeout(() => slot.child === child && this.spawn(slot), 1_000);
    });
  }
}

const alive = (child: ChildProcess | null): child is ChildProcess =>
  child !== null && child.exitCode === null && child.signalCode === null;
