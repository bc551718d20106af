// A Redis server (or Sentinel) of a test's own, on a free port, for tests that restart it
// empty, stop it, fail it over: the shared Redis must never be disturbed. It keeps nothing on
// disk (`--save '' --appendonly no`), so a restart loses every key, as a default Redis
// container does.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './service-process.js';
import { until } from './until.js';

export class RedisServerProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    private readonly program: string,
    private readonly args: string[],
  ) {}

  /** redis-server on a free port; `args` are extra command-line options (e.g. --replicaof). */
  static async start(args: string[] = []): Promise<RedisServerProcess> {
    const port = await freePort();
    // A replica writes the RDB it syncs from into its folder: a temporary one, never the cwd.
    const dir = mkdtempSync(join(tmpdir(), 'tripwire-redis-'));
    const server = new RedisServerProcess(port, 'redis-server', [
      '--dir',
      dir,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      ...args,
    ]);
    server.cleanupDir = dir;
    await server.launch();
    return server;
  }

  /**
   * redis-sentinel on a free port, watching `primaryPort` as `name` with a quorum of 1, and a
   * down-after of `downAfterMs` (Sentinel rewrites its config file: it gets one of its own).
   */
  static async sentinel(name: string, primaryPort: number, downAfterMs = 1_000) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tripwire-sentinel-'));
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = new RedisServerProcess(port, 'redis-sentinel', [config]);
    sentinel.cleanupDir = dir;
    await sentinel.launch();
    return sentinel;
  }

  /** Whether a program is on PATH (e.g. redis-sentinel, a separate Debian package). */
  static installed(program: string): boolean {
    try {
      execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  private cleanupDir: string | undefined;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Sends a signal (SIGSTOP to hang it, SIGCONT to resume it). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** SIGKILL, and wait until it is gone: everything it held is lost. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Killed and started again on the same port, empty. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    if (this.cleanupDir) rmSync(this.cleanupDir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const child = spawn(this.program, this.args, { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const probe = new Redis(this.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    probe.on('error', () => {});
    try {
      await until(
        async () => (await probe.ping().catch(() => '')) === 'PONG',
        10_000,
        `${this.program} on port ${this.port}`,
      );
    } finally {
      probe.disconnect();
    }
  }
}

/** A primary, its replica and a Sentinel watching them, each on a free port. */
export interface RedisSentinelGroup {
  primary: RedisServerProcess;
  replica: RedisServerProcess;
  sentinel: RedisServerProcess;
  /** The name the Sentinel monitors the primary under (REDIS_SENTINEL_NAME). */
  name: string;
  /** REDIS_SENTINELS, as the services read it. */
  sentinels: string;
  stop(): Promise<void>;
}

const replicationField = async (redis: Redis, field: string) =>
  new RegExp(`${field}:(\\S+)`).exec(await redis.info('replication'))?.[1];

/** A field of a server's INFO replication (role, master_replid, master_link_status, ...). */
export async function replicationInfo(port: number, field: string): Promise<string | undefined> {
  const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    return await replicationField(redis, field);
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts a primary, a replica in sync with it, and a Sentinel (quorum 1, down after
 * `downAfterMs`) that knows both, so killing the primary promotes the replica.
 */
export async function startRedisSentinelGroup(
  name = 'tripwire-test',
  downAfterMs = 1_000,
): Promise<RedisSentinelGroup> {
  const primary = await RedisServerProcess.start();
  const replica = await RedisServerProcess.start([
    '--replicaof',
    '127.0.0.1',
    String(primary.port),
  ]);
  const stop = async (...servers: RedisServerProcess[]) =>
    void (await Promise.all(servers.map((s) => s.stop())));
  try {
    await until(
      async () => (await replicationInfo(replica.port, 'master_link_status')) === 'up',
      10_000,
      'the replica to sync',
    );
    const sentinel = await RedisServerProcess.sentinel(name, primary.port, downAfterMs);
    const probe = new Redis(sentinel.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      // The Sentinel learns of replicas from the primary's INFO; it only promotes one it knows.
      await until(
        async () => ((await probe.call('SENTINEL', 'REPLICAS', name)) as unknown[]).length === 1,
        15_000,
        'the Sentinel to discover the replica',
      );
    } finally {
      probe.disconnect();
    }
    return {
      primary,
      replica,
      sentinel,
      name,
      sentinels: `127.0.0.1:${sentinel.port}`,
      stop: () => stop(sentinel, replica, primary),
    };
  } catch (err) {
    await stop(replica, primary);
    throw err;
  }
}
