// The fan-out service as its own process for tests (kill -9 it, restart it on the same port),
// run from its TypeScript source. Test code only: tsconfig.build.json leaves src/testing out of
// dist, and package.json exports it under the @tripwire/source condition only, so it never
// reaches an image.
import { fileURLToPath } from 'node:url';
import { freePort, ServiceProcess, type TestServers } from '@tripwire/test-fixtures';
import type { TracingEnv } from '@tripwire/tracing';
import type { FanoutConfig } from '../config.js';

/** Environment for the fan-out service: only names its config reads. */
export type FanoutEnv = Partial<Record<keyof FanoutConfig, string>> & TracingEnv;

const FANOUT_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** services/fanout as its own process on 127.0.0.1. */
export class FanoutProcess extends ServiceProcess {
  constructor(
    servers: TestServers,
    readonly port: number,
    readonly metricsPort: number,
    operatorJwtSecret: string,
    env: FanoutEnv = {},
  ) {
    const base: FanoutEnv = {
      DATABASE_URL: servers.databaseUrl,
      REDIS_URL: servers.redisUrl,
      BUS_KEY_PREFIX: servers.keyPrefix,
      OPERATOR_JWT_SECRET: operatorJwtSecret,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      SHUTDOWN_DRAIN_MS: '1000',
      LOG_LEVEL: 'info',
    };
    super(FANOUT_DIR, ['src/main.ts'], { ...base, ...env });
  }

  static async create(servers: TestServers, operatorJwtSecret: string, env: FanoutEnv = {}) {
    return new FanoutProcess(servers, await freePort(), await freePort(), operatorJwtSecret, env);
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** /metrics, on its own port (METRICS_PORT). */
  get metricsUrl() {
    return `http://127.0.0.1:${this.metricsPort}/metrics`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws/alerts`;
  }

  /** Starts the service; `overrides` change its environment for this run only. */
  start(overrides: FanoutEnv = {}) {
    return this.spawnUntilReady(`${this.url}/readyz`, 'fan-out', overrides);
  }
}
