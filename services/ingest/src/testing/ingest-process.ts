// The ingest service as its own process for other packages' tests (kill -9 it, restart it on
// the same ports), run from its TypeScript source. Test code only: tsconfig.build.json leaves
// src/testing out of dist, and package.json exports it under the @tripwire/source condition
// only, so it never reaches an image.
import { fileURLToPath } from 'node:url';
import { freePort, ServiceProcess, type TestServers } from '@tripwire/test-fixtures';
import type { TracingEnv } from '@tripwire/tracing';
import type { IngestConfig } from '../config.js';

/** Environment for the ingest service: only names its config reads. */
export type IngestEnv = Partial<Record<keyof IngestConfig, string>> & TracingEnv;

const INGEST_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** services/ingest as its own process, plaintext gRPC on 127.0.0.1. */
export class IngestProcess extends ServiceProcess {
  private readonly readyUrl: string;

  constructor(
    servers: TestServers,
    readonly grpcPort: number,
    readonly httpPort: number,
    enrollmentToken: string,
    env: IngestEnv = {},
  ) {
    const base: IngestEnv = {
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
    };
    super(INGEST_DIR, ['src/main.ts'], { ...base, ...env });
    this.readyUrl = `http://127.0.0.1:${httpPort}/readyz`;
  }

  /** `env` may add OPERATOR_JWT_SECRET (the fan-out's) to serve IncidentService. */
  static async create(servers: TestServers, enrollmentToken: string, env: IngestEnv = {}) {
    return new IngestProcess(servers, await freePort(), await freePort(), enrollmentToken, env);
  }

  get address() {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** Starts the service; `overrides` change its environment for this run only. */
  start(overrides: IngestEnv = {}) {
    return this.spawnUntilReady(this.readyUrl, 'ingest', overrides);
  }
}
