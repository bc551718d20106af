import { join, resolve } from 'node:path';
import { ConfigError } from '@tripwire/config';
import { describe, expect, it } from 'vitest';
import { defaultDashboardDir, loadConfig } from './config.js';

const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tripwire',
  REDIS_URL: 'redis://127.0.0.1:6379',
  OPERATOR_JWT_SECRET: 'x'.repeat(32),
};

describe('fan-out loadConfig', () => {
  it('applies defaults, including the 64 KiB frame limit', () => {
    const c = loadConfig(valid);
    expect(c.PORT).toBe(8080);
    expect(c.WS_MAX_PAYLOAD_BYTES).toBe(65536);
    expect(c.ALLOWED_ORIGINS).toEqual([]);
  });

  it('applies the abuse caps and the internal metrics port, and refuses a cap of 0', () => {
    const c = loadConfig(valid);
    expect([c.METRICS_HOST, c.METRICS_PORT, c.TRUST_PROXY]).toEqual(['0.0.0.0', 9464, false]);
    expect([
      c.WS_MAX_CONNECTIONS_PER_OPERATOR,
      c.WS_MAX_CONNECTIONS_PER_ADDRESS,
      c.WS_MAX_TOPICS,
      c.WS_RESUMES_PER_MINUTE,
      c.WS_REPLAY_SLICE_FRAMES,
    ]).toEqual([20, 100, 5000, 30, 500]);
    expect(loadConfig({ ...valid, TRUST_PROXY: 'true', METRICS_PORT: '0' })).toMatchObject({
      TRUST_PROXY: true,
      METRICS_PORT: 0,
    });
    expect(() => loadConfig({ ...valid, WS_MAX_CONNECTIONS_PER_OPERATOR: '0' })).toThrow(
      /WS_MAX_CONNECTIONS_PER_OPERATOR: must be at least 1/,
    );
  });

  it('splits ALLOWED_ORIGINS and names every bad variable', () => {
    expect(
      loadConfig({ ...valid, ALLOWED_ORIGINS: 'https://a.example, https://b.example' })
        .ALLOWED_ORIGINS,
    ).toEqual(['https://a.example', 'https://b.example']);
    const attempt = () =>
      loadConfig({ REDIS_URL: 'http://x', OPERATOR_JWT_SECRET: 'short', WS_IDLE_TIMEOUT_S: '2' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/DATABASE_URL: is required/);
    expect(attempt).toThrow(/REDIS_URL: must be a URL like redis:/);
    expect(attempt).toThrow(/OPERATOR_JWT_SECRET: must be at least 32 characters/);
    expect(attempt).toThrow(/WS_IDLE_TIMEOUT_S: must be at least 8/);
  });

  it('serves the @tripwire/dashboard build by default, or the folder DASHBOARD_DIR names', () => {
    const fallback = loadConfig(valid).DASHBOARD_DIR;
    expect(fallback).toBe(defaultDashboardDir());
    if (fallback !== undefined) expect(fallback).toMatch(/dashboard[/\\]dist$/);
    expect(loadConfig({ ...valid, DASHBOARD_DIR: 'web/dist' }).DASHBOARD_DIR).toBe(
      resolve('web/dist'),
    );
    expect(loadConfig({ ...valid, DASHBOARD_DIR: '/srv/dashboard' }).DASHBOARD_DIR).toBe(
      join('/srv/dashboard'),
    );
  });

  it('bounds managed enrollment tokens and approvals in time', () => {
    expect(loadConfig(valid)).toMatchObject({
      ENROLLMENT_TOKEN_MAX_TTL_S: 30 * 86_400,
      ENROLLMENT_APPROVAL_TTL_S: 86_400,
    });
    expect(
      loadConfig({ ...valid, ENROLLMENT_APPROVAL_TTL_S: '600' }).ENROLLMENT_APPROVAL_TTL_S,
    ).toBe(600);
    expect(() => loadConfig({ ...valid, ENROLLMENT_TOKEN_MAX_TTL_S: '10' })).toThrow(
      /ENROLLMENT_TOKEN_MAX_TTL_S/,
    );
  });
});
