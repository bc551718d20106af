// The services as their own processes, run from their TypeScript source as operators run the
// built ones: killable with SIGKILL (a crash, the OOM killer), stoppable with SIGTERM, and
// restartable on the same ports. Shared by the agent's, the ingest's and the fan-out's tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { until } from './until.js';
import type { TestServers } from './use-test-servers.js';

/** The monorepo's services folder (this file is in packages/test-fixtures/{src,dist}). */
const SERVICES_DIR = fileURLToPath(new URL('../../../services/', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** A service run from its TypeScript source as its own process. */
export class ServiceProcess {
  protected child: ChildProcess | null = null;
  readonly output: string[] = [];
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    protected readonly cwd: string,
    protected readonly args: string[],
    protected readonly env: Record<string, string>,
  ) {}

  spawn(extraArgs: string[] = [], envOverrides: Record<string, string> = {}) {
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
  protected async spawnUntilReady(readyUrl: string, what: string, env: Record<string, string>) {
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

/** services/ingest as its own process, plaintext gRPC on 127.0.0.1. */
export class IngestProcess extends ServiceProcess {
  private readonly readyUrl: string;

  constructor(
    servers: TestServers,
    readonly grpcPort: number,
    readonly httpPort: number,
    enrollmentToken: string,
    env: Record<string, string> = {},
  ) {
    super(`${SERVICES_DIR}ingest`, ['src/main.ts'], {
      DATABASE_URL: servers.databaseUrl,
      REDIS_URL: servers.redisUrl,
      BUS_KEY_PREFIX: servers.keyPrefix,
      ENROLLMENT_TOKEN: enrollmentToken,
      GRPC_INSECURE: 'true',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      MIGRATE_ON_START: 'false',
      SHUTDOWN_GRACE_MS: '1000',
      LOG_LEVEL: 'warn',
      ...env,
    });
    this.readyUrl = `http://127.0.0.1:${httpPort}/readyz`;
  }

  /** `env` may add OPERATOR_JWT_SECRET (the fan-out's) to serve IncidentService. */
  static async create(
    servers: TestServers,
    enrollmentToken: string,
    env: Record<string, string> = {},
  ) {
    return new IngestProcess(servers, await freePort(), await freePort(), enrollmentToken, env);
  }

  get address() {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** Starts the service; `overrides` change its environment for this run only. */
  start(overrides: Record<string, string> = {}) {
    return this.spawnUntilReady(this.readyUrl, 'ingest', overrides);
  }
}

/** services/fanout as its own process on 127.0.0.1. */
export class FanoutProcess extends ServiceProcess {
  constructor(
    servers: TestServers,
    readonly port: number,
    operatorJwtSecret: string,
    env: Record<string, string> = {},
  ) {
    super(`${SERVICES_DIR}fanout`, ['src/main.ts'], {
      DATABASE_URL: servers.databaseUrl,
      REDIS_URL: servers.redisUrl,
      BUS_KEY_PREFIX: servers.keyPrefix,
      OPERATOR_JWT_SECRET: operatorJwtSecret,
      HOST: '127.0.0.1',
      PORT: String(port),
      SHUTDOWN_DRAIN_MS: '1000',
      LOG_LEVEL: 'info',
      ...env,
    });
  }

  static async create(
    servers: TestServers,
    operatorJwtSecret: string,
    env: Record<string, string> = {},
  ) {
    return new FanoutProcess(servers, await freePort(), operatorJwtSecret, env);
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws/alerts`;
  }

  /** Starts the service; `overrides` change its environment for this run only. */
  start(overrides: Record<string, string> = {}) {
    return this.spawnUntilReady(`${this.url}/readyz`, 'fan-out', overrides);
  }
}
