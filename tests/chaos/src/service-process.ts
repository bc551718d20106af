// One ingest or fan-out instance as a real process started from its build (services/*/dist),
// as operators run it: kill -9 it, start it again on the same ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

export type ServiceName = 'ingest' | 'fanout';

/** From tests/chaos/src or tests/chaos/dist alike. */
const mainOf = (service: ServiceName) =>
  fileURLToPath(new URL(`../../../services/${service}/dist/main.js`, import.meta.url));

/** The last lines a process printed, for the report when it misbehaves. */
const KEPT_OUTPUT_LINES = 40;
/** Of those, how many the report shows for a process that exited on its own. */
const CRASH_LINES = 12;

export class ServiceProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<unknown> = Promise.resolve();
  /** Exits the run did not cause (a crash, an exit on its own). */
  unexpectedExits = 0;
  /** The last lines printed before the latest unexpected exit, ending with its code or signal. */
  lastCrash: string[] = [];
  starts = 0;
  readonly output: string[] = [];
  private killing = false;

  constructor(
    readonly label: string,
    private readonly service: ServiceName,
    private readonly env: Record<string, string>,
    private readonly readyUrl: string,
  ) {}

  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it and waits (bounded) until /readyz answers 200; false if it did not in time. */
  async start(readyTimeoutMs = 30_000): Promise<boolean> {
    const child = spawn(process.execPath, [mainOf(this.service)], {
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    const keep = (d: Buffer) => {
      this.output.push(...String(d).split('\n').filter(Boolean));
      this.output.splice(0, Math.max(0, this.output.length - KEPT_OUTPUT_LINES));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // 'close', not 'exit': only then has everything the process printed been read, so a
    // crash's stack trace is in the output before the exit line.
    this.exited = new Promise((r) =>
      child.once('close', (code, signal) => {
        if (!this.killing) {
          this.unexpectedExits++;
          this.lastCrash = [
            ...this.output.slice(-CRASH_LINES),
            `[exited code=${code} signal=${signal}]`,
          ];
        }
        r(undefined);
      }),
    );
    try {
      await waitFor(
        // A process that exited will not become ready: stop waiting for it.
        async () => !this.running || (await ready(this.readyUrl)),
        readyTimeoutMs,
        `${this.label} to be ready`,
        200,
      );
      return this.running;
    } catch {
      return false;
    }
  }

  /** SIGKILL, as a crash or the OOM killer would, and wait until it is gone. */
  async kill9() {
    if (!this.running) return;
    this.killing = true;
    this.child!.kill('SIGKILL');
    await this.exited;
    this.killing = false;
  }

  /** SIGTERM at the end of the run. */
  async stop() {
    if (!this.running) return;
    this.killing = true;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function ready(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}
