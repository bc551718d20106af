// A program run from its TypeScript source as its own process, as operators run the built one:
// killable with SIGKILL (a crash, the OOM killer), stoppable with SIGTERM, and restartable on
// the same ports. Each service's own fixture (e.g. @tripwire/ingest/testing) extends it with
// that service's folder and environment; this file knows no service.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { until } from './until.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Environment variables for a child process; unset (undefined) ones are left out. */
export type ProcessEnv = Record<string, string | undefined>;

/** A program run from its TypeScript source as its own process. */
export class ServiceProcess {
  protected child: ChildProcess | null = null;
  readonly output: string[] = [];
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    protected readonly cwd: string,
    protected readonly args: string[],
    protected readonly env: ProcessEnv,
  ) {}

  spawn(extraArgs: string[] = [], envOverrides: ProcessEnv = {}) {
    const child = spawn(
      process.execPath,
      ['--conditions=@tripwire/source', '--import', 'tsx', ...this.args, ...extraArgs],
      {
        cwd: this.cwd,
        env: { PATH: process.env.PATH ?? '', ...this.env, ...envOverrides },
        stdio: 'pipe',
      },
    );
    this.child = child;
    child.stdout?.on('data', (d) => this.output.push(String(d)));
    child.stderr?.on('data', (d) => this.output.push(String(d)));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    return child;
  }

  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, as a crash or the OOM killer would, and wait for it to be gone. */
  async kill9() {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** Sends a signal (SIGSTOP to freeze it, SIGCONT to let it go on). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child!.kill(signal);
  }

  /** SIGTERM, as an orchestrator sends it, and wait for the process to exit. */
  async stop() {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    await this.exited;
  }

  /** Structured log lines (pino JSON) printed so far. */
  logLines(): Array<Record<string, unknown>> {
    return this.output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }

  /** Spawns, then waits until `readyUrl` answers 200. */
  protected async spawnUntilReady(readyUrl: string, what: string, env: ProcessEnv) {
    this.spawn([], env);
    await until(
      async () => {
        if (!this.running) throw new Error(`${what} exited: ${this.output.join('')}`);
        return (await fetch(readyUrl).catch(() => null))?.status === 200;
      },
      30_000,
      `the ${what} service to be ready`,
    );
  }
}
