// Real processes for the agent's tests: the ingest service (killable with SIGKILL and
// restartable on the same port) and tripwire-agent itself, on real PostgreSQL and Redis.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BusEntry, BusSubscriber, createRedisClient } from '@tripwire/bus';
import { createPool, MIGRATIONS_DIR, migrateDatabase, type Pool } from '@tripwire/storage';
import { type TestServers, until, useTestServers } from '@tripwire/test-fixtures';
import { afterAll, beforeAll } from 'vitest';

export { until };

const INGEST_DIR = fileURLToPath(new URL('../../ingest', import.meta.url));
const AGENT_DIR = fileURLToPath(new URL('..', import.meta.url));
export const ENROLLMENT_TOKEN = 'agent-test-enrollment-0123456789';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** A service run from its TypeScript source as its own process. */
class ServiceProcess {
  protected child: ChildProcess | null = null;
  readonly output: string[] = [];
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    protected readonly cwd: string,
    protected readonly args: string[],
    protected readonly env: Record<string, string>,
  ) {}

  spawn(extraArgs: string[] = []) {
    const child = spawn(
      process.execPath,
      ['--conditions=@tripwire/source', '--import', 'tsx', ...this.args, ...extraArgs],
      { cwd: this.cwd, env: { PATH: process.env.PATH ?? '', ...this.env }, stdio: 'pipe' },
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
}

export class IngestProcess extends ServiceProcess {
  constructor(
    servers: TestServers,
    readonly grpcPort: number,
    httpPort: number,
  ) {
    super(INGEST_DIR, ['src/main.ts'], {
      DATABASE_URL: servers.databaseUrl,
      REDIS_URL: servers.redisUrl,
      BUS_KEY_PREFIX: servers.keyPrefix,
      ENROLLMENT_TOKEN,
      GRPC_INSECURE: 'true',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      MIGRATE_ON_START: 'false',
      SHUTDOWN_GRACE_MS: '1000',
      LOG_LEVEL: 'warn',
    });
    this.readyUrl = `http://127.0.0.1:${httpPort}/readyz`;
  }
  private readonly readyUrl: string;

  static async create(servers: TestServers) {
    return new IngestProcess(servers, await freePort(), await freePort());
  }

  get address() {
    return `127.0.0.1:${this.grpcPort}`;
  }

  async start() {
    this.spawn();
    await until(
      async () => {
        if (!this.running) throw new Error(`ingest exited: ${this.output.join('')}`);
        return (await fetch(this.readyUrl).catch(() => null))?.status === 200;
      },
      30_000,
      'the ingest service to be ready',
    );
  }
}

/** tripwire-agent itself, from its CLI. */
export class AgentProcess extends ServiceProcess {
  constructor(
    readonly stateDir: string,
    private readonly commandArgs: string[],
  ) {
    super(AGENT_DIR, ['src/cli.ts'], { TRIPWIRE_LOG_LEVEL: 'debug' });
  }

  start(extraArgs: string[] = []) {
    this.spawn([...this.commandArgs, ...extraArgs]);
  }
}

export function tempDir(prefix: string) {
  return mkdtempSync(join(tmpdir(), `tripwire-${prefix}-`));
}

/** A rules file for `--rules-file`, in a folder of its own (the state dir has its own rules.json). */
export function rulesFile(rules: object[]): string {
  const path = join(tempDir('rules'), 'local-rules.json');
  writeFileSync(path, JSON.stringify({ rules }));
  return path;
}

export interface AgentTestEnv extends TestServers {
  pool: Pool;
  /** Every message the ingest service published on the bus so far. */
  bus: BusEntry[];
}

/** This file's database, Redis prefix, a pool, and a recorder of the bus. */
export function useAgentTestEnv(): AgentTestEnv {
  const servers = useTestServers({
    migrationsDir: MIGRATIONS_DIR,
    migrate: (databaseUrl) => migrateDatabase({ databaseUrl }),
  });
  const env = servers as AgentTestEnv;
  let subscriber: BusSubscriber | undefined;
  beforeAll(async () => {
    env.pool = createPool({ databaseUrl: servers.databaseUrl });
    env.bus = [];
    subscriber = new BusSubscriber({
      redis: createRedisClient(servers.redisUrl),
      keyPrefix: servers.keyPrefix,
      from: '0-0',
      blockMs: 200,
      onEntries: (entries) => env.bus.push(...entries),
    });
    subscriber.start();
  });
  afterAll(async () => {
    await subscriber?.stop();
    await env.pool?.end();
  });
  return env;
}

export async function alertRows(pool: Pool, where = 'TRUE', params: unknown[] = []) {
  const { rows } = await pool.query<{
    alert_id: string;
    host_id: string;
    rule_name: string;
    severity: string;
    tripwire_type: string;
    event_detail: Record<string, unknown> | null;
  }>(
    `SELECT alert_id, host_id, rule_name, severity, tripwire_type, event_detail FROM alerts WHERE ${where}`,
    params,
  );
  return rows;
}
