// A redis-server of the run's own, on a free port, keeping nothing on disk: the run restarts it
// empty (what a Redis without persistence does after a crash) and freezes it (SIGSTOP), which
// must never happen to the Redis other work shares.
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { waitFor } from './wait-for.js';

export class OwnRedis {
  private server: ChildProcess | null = null;
  private exited: Promise<unknown> = Promise.resolve();
  private frozen = false;

  constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    const server = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.server = server;
    this.exited = new Promise((r) => server.once('exit', r));
    await waitFor(() => this.answersPing(), 10_000, 'redis-server to answer PING');
  }

  /** kill -9 and start again on the same port: every key is gone. */
  async restartEmpty() {
    await this.kill();
    await this.start();
  }

  /** SIGSTOP: connections stay open, nothing answers. */
  freeze() {
    this.frozen = true;
    this.server?.kill('SIGSTOP');
  }

  thaw() {
    this.frozen = false;
    this.server?.kill('SIGCONT');
  }

  async kill() {
    if (!this.server || this.server.exitCode !== null || this.server.signalCode !== null) return;
    if (this.frozen) this.thaw();
    this.server.kill('SIGKILL');
    await this.exited;
  }

  private answersPing(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection(this.port, '127.0.0.1');
      socket.setTimeout(1_000, () => socket.destroy());
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        resolve(String(d).startsWith('+PONG'));
        socket.destroy();
      });
    });
  }
}
