import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tripwire',
  REDIS_URL: 'redis://127.0.0.1:6379',
  ENROLLMENT_TOKEN: 'a-long-enrollment-secret-0123456789',
  GRPC_INSECURE: 'true',
};

describe('loadConfig', () => {
  it('applies defaults to a minimal valid environment', () => {
    const c = loadConfig(valid);
    expect(c.GRPC_PORT).toBe(50051);
    expect(c.MIGRATE_ON_START).toBe(true);
    expect(c.GRPC_INSECURE).toBe(true);
    expect(c.MAX_EVENT_DETAIL_BYTES).toBe(65536);
    expect(c.INCIDENT_WINDOW_S).toBe(300);
  });

  it('has dependency timeouts, 0 turning the PostgreSQL ones off', () => {
    expect(loadConfig(valid)).toMatchObject({
      REDIS_COMMAND_TIMEOUT_MS: 5_000,
      PG_STATEMENT_TIMEOUT_MS: 15_000,
      PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: 30_000,
      DEPENDENCY_HUNG_AFTER_MS: 5_000,
      DEPENDENCY_PROBE_INTERVAL_MS: 2_000,
    });
    expect(loadConfig({ ...valid, PG_STATEMENT_TIMEOUT_MS: '0' }).PG_STATEMENT_TIMEOUT_MS).toBe(0);
    expect(() => loadConfig({ ...valid, REDIS_COMMAND_TIMEOUT_MS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...valid, DEPENDENCY_PROBE_INTERVAL_MS: '0' })).toThrow(
      /DEPENDENCY_PROBE_INTERVAL_MS/,
    );
  });

  it('reads REDIS_SENTINELS and REDIS_SENTINEL_NAME like the fan-out', () => {
    const c = loadConfig({
      ...valid,
      REDIS_SENTINELS: 'redis-sentinel:26379',
      REDIS_SENTINEL_NAME: 'tw',
    });
    expect([c.REDIS_SENTINELS, c.REDIS_SENTINEL_NAME]).toEqual([
      [{ host: 'redis-sentinel', port: 26379 }],
      'tw',
    ]);
    expect(() => loadConfig({ ...valid, REDIS_SENTINELS: ':26379' })).toThrow(/REDIS_SENTINELS/);
  });

  it('has response action defaults, and refuses a default timeout or expiry over its maximum', () => {
    expect(loadConfig(valid)).toMatchObject({
      TASKS_MAX_RUNNING_PER_HOST: 1,
      TASK_OUTPUT_MAX_BYTES: 1024 * 1024,
      TASKS_SHELL_APPROVAL: false,
      TASKS_DEFAULT_TIMEOUT_S: 60,
      TASK_RETENTION_DAYS: 90,
    });
    expect(() =>
      loadConfig({ ...valid, TASKS_DEFAULT_TIMEOUT_S: '600', TASKS_MAX_TIMEOUT_S: '60' }),
    ).toThrow(/TASKS_DEFAULT_TIMEOUT_S: must be at most TASKS_MAX_TIMEOUT_S/);
    expect(() => loadConfig({ ...valid, TASKS_DEFAULT_EXPIRY_S: '99999999' })).toThrow(
      /TASKS_DEFAULT_EXPIRY_S/,
    );
    expect(() => loadConfig({ ...valid, TASK_OUTPUT_MAX_BYTES: '10' })).toThrow(
      /TASK_OUTPUT_MAX_BYTES/,
    );
  });

  it('takes an incident window in seconds and refuses zero', () => {
    expect(loadConfig({ ...valid, INCIDENT_WINDOW_S: '60' }).INCIDENT_WINDOW_S).toBe(60);
    expect(() => loadConfig({ ...valid, INCIDENT_WINDOW_S: '0' })).toThrow(/INCIDENT_WINDOW_S/);
  });

  it('has memory budgets in bytes beside the item limits, each refused below 64 KiB', () => {
    expect(loadConfig(valid)).toMatchObject({
      INGEST_MAX_PENDING_BYTES: 128 * 1024 * 1024,
      BUS_MAX_BACKLOG_BYTES: 256 * 1024 * 1024,
      BUS_MAX_ENTRY_BYTES: 1024 * 1024,
    });
    for (const name of [
      'INGEST_MAX_PENDING_BYTES',
      'BUS_MAX_BACKLOG_BYTES',
      'BUS_MAX_ENTRY_BYTES',
    ]) {
      expect(loadConfig({ ...valid, [name]: String(512 * 1024) })).toMatchObject({
        [name]: 512 * 1024,
      });
      expect(() => loadConfig({ ...valid, [name]: '1000' })).toThrow(name);
    }
  });

  it('has host lease timings, and refuses a lease shorter than two heartbeats', () => {
    expect(loadConfig(valid)).toMatchObject({
      HOST_HEARTBEAT_MS: 5_000,
      HOST_LEASE_MS: 20_000,
      HOST_SWEEP_MS: 5_000,
    });
    expect(
      loadConfig({
        ...valid,
        HOST_HEARTBEAT_MS: '100',
        HOST_LEASE_MS: '600',
        HOST_SWEEP_MS: '100',
      }),
    ).toMatchObject({ HOST_HEARTBEAT_MS: 100, HOST_LEASE_MS: 600, HOST_SWEEP_MS: 100 });
    expect(() =>
      loadConfig({ ...valid, HOST_HEARTBEAT_MS: '5000', HOST_LEASE_MS: '8000' }),
    ).toThrow(/HOST_LEASE_MS: must be at least twice HOST_HEARTBEAT_MS/);
  });
});

describe('loadConfig refusals', () => {
  it('names every bad variable in one error', () => {
    const run = () =>
      loadConfig({
        DATABASE_URL: 'mysql://x',
        GRPC_PORT: 'abc',
        ENROLLMENT_TOKEN: 'short',
        GRPC_INSECURE: 'true',
      });
    expect(run).toThrow(ConfigError);
    const message = (() => {
      try {
        run();
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/DATABASE_URL: must be a URL like postgres:/);
    expect(message).toMatch(/REDIS_URL: is required/);
    expect(message).toMatch(/GRPC_PORT: must be a number/);
    expect(message).toMatch(/ENROLLMENT_TOKEN: must be at least 32 characters/);
  });

  it('refuses plaintext unless asked for, and half-configured TLS', () => {
    expect(() => loadConfig({ ...valid, GRPC_INSECURE: undefined })).toThrow(
      /GRPC_TLS_CERT_FILE: is required: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE, or GRPC_INSECURE=true/,
    );
    expect(() => loadConfig({ ...valid, GRPC_TLS_CERT_FILE: '/tls/cert.pem' })).toThrow(
      /GRPC_TLS_KEY_FILE: GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together/,
    );
    expect(() => loadConfig({ ...valid, GRPC_TLS_CLIENT_CA_FILE: '/tls/ca.pem' })).toThrow(
      /mTLS needs server TLS/,
    );
    expect(() => loadConfig({ ...valid, GRPC_INSECURE: 'maybe' })).toThrow(
      /GRPC_INSECURE: must be true or false/,
    );
  });

  it('refuses an enrollment token shorter than 32 characters, naming the variable', () => {
    expect(() => loadConfig({ ...valid, ENROLLMENT_TOKEN: 'x'.repeat(31) })).toThrow(
      /ENROLLMENT_TOKEN: must be at least 32 characters/,
    );
    expect(
      loadConfig({ ...valid, ENROLLMENT_TOKEN: 'x'.repeat(32) }).ENROLLMENT_TOKEN,
    ).toHaveLength(32);
  });
});

describe('loadConfig: limits', () => {
  it('has gRPC abuse limits with defaults, each refused when out of range', () => {
    expect(loadConfig(valid)).toMatchObject({
      AGENT_STREAM_MAX_BUFFERED_BYTES: 8 * 1024 * 1024,
      INCIDENT_STREAM_MAX_BUFFERED_BYTES: 16 * 1024 * 1024,
      GRPC_MAX_CONCURRENT_STREAMS: 100,
      MAX_STREAMS_PER_HOST: 4,
      GRPC_MAX_CONNECTION_AGE_MS: 1_800_000,
      GRPC_MAX_CONNECTION_AGE_GRACE_MS: 30_000,
      REGISTER_RATE_LIMIT_PER_MINUTE: 60,
    });
    expect(
      loadConfig({ ...valid, GRPC_MAX_CONNECTION_AGE_MS: '0' }).GRPC_MAX_CONNECTION_AGE_MS,
    ).toBe(0);
    for (const name of [
      'AGENT_STREAM_MAX_BUFFERED_BYTES',
      'INCIDENT_STREAM_MAX_BUFFERED_BYTES',
      'GRPC_MAX_CONCURRENT_STREAMS',
      'MAX_STREAMS_PER_HOST',
      'REGISTER_RATE_LIMIT_PER_MINUTE',
    ]) {
      expect(() => loadConfig({ ...valid, [name]: '0' })).toThrow(new RegExp(name));
    }
    // Clipping needs room for its marker: a detail limit under 1 KiB is refused.
    expect(() => loadConfig({ ...valid, MAX_EVENT_DETAIL_BYTES: '100' })).toThrow(
      /MAX_EVENT_DETAIL_BYTES/,
    );
  });

  it('takes an optional operator token secret of at least 32 characters', () => {
    expect(loadConfig(valid).OPERATOR_JWT_SECRET).toBeUndefined();
    const secret = 'x'.repeat(32);
    expect(loadConfig({ ...valid, OPERATOR_JWT_SECRET: secret }).OPERATOR_JWT_SECRET).toBe(secret);
    expect(() => loadConfig({ ...valid, OPERATOR_JWT_SECRET: 'short' })).toThrow(
      /OPERATOR_JWT_SECRET.*at least 32/,
    );
    // Operator JWTs live at most 30 days unless configured; a minute at the least.
    expect(loadConfig(valid).OPERATOR_TOKEN_MAX_AGE_S).toBe(30 * 86_400);
    expect(() => loadConfig({ ...valid, OPERATOR_TOKEN_MAX_AGE_S: '5' })).toThrow(
      /OPERATOR_TOKEN_MAX_AGE_S: must be at least 60/,
    );
  });

  it('bounds re-registrations waiting for approval', () => {
    expect(loadConfig(valid)).toMatchObject({
      ENROLLMENT_PENDING_TTL_S: 86_400,
      ENROLLMENT_MAX_PENDING_PER_HOST: 5,
    });
    expect(
      loadConfig({
        ...valid,
        ENROLLMENT_PENDING_TTL_S: '3600',
        ENROLLMENT_MAX_PENDING_PER_HOST: '2',
      }),
    ).toMatchObject({ ENROLLMENT_PENDING_TTL_S: 3600, ENROLLMENT_MAX_PENDING_PER_HOST: 2 });
    expect(() => loadConfig({ ...valid, ENROLLMENT_PENDING_TTL_S: '5' })).toThrow(
      /ENROLLMENT_PENDING_TTL_S/,
    );
    expect(() => loadConfig({ ...valid, ENROLLMENT_MAX_PENDING_PER_HOST: '0' })).toThrow(
      /ENROLLMENT_MAX_PENDING_PER_HOST/,
    );
  });
});
