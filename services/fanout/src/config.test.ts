import { join, resolve } from 'node:path';
import { ConfigError } from '@tripwire/config';
import { describe, expect, it } from 'vitest';
import { defaultDashboardDir, loadConfig, taskLimits } from './config.js';
import { oidcSettings } from './oidc-settings.js';

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

  it('gives storage the task limits, and names a default above its maximum', () => {
    expect(taskLimits(loadConfig(valid))).toEqual({
      defaultTimeoutS: 60,
      maxTimeoutS: 3600,
      defaultExpiresInS: 3600,
      maxExpiresInS: 7 * 86_400,
      maxOutputBytes: 1024 * 1024,
      perOperatorPerMinute: 60,
      perHostPerMinute: 30,
      maxQueuedPerHost: 100,
    });
    expect(loadConfig(valid).TASKS_SHELL_APPROVAL).toBe(false);
    expect(() => loadConfig({ ...valid, TASKS_DEFAULT_TIMEOUT_S: '7200' })).toThrow(
      /TASKS_DEFAULT_TIMEOUT_S.*must not exceed TASKS_MAX_TIMEOUT_S \(3600\)/,
    );
    expect(loadConfig({ ...valid, TASKS_SHELL_APPROVAL: 'true' }).TASKS_SHELL_APPROVAL).toBe(true);
  });

  it('bounds the resume window in bytes too', () => {
    expect(loadConfig(valid).HISTORY_MAX_BYTES).toBe(256 * 1024 * 1024);
    expect(loadConfig({ ...valid, HISTORY_MAX_BYTES: '1048576' }).HISTORY_MAX_BYTES).toBe(1048576);
    expect(() => loadConfig({ ...valid, HISTORY_MAX_BYTES: '1000' })).toThrow(/HISTORY_MAX_BYTES/);
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

  it('reads the Sentinels of a highly available Redis, and names a malformed one', () => {
    expect(loadConfig(valid)).toMatchObject({
      REDIS_SENTINELS: [],
      REDIS_SENTINEL_NAME: 'mymaster',
    });
    const c = loadConfig({
      ...valid,
      REDIS_SENTINELS: 'sentinel-0:26379, 10.0.0.7:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'tripwire',
    });
    expect(c.REDIS_SENTINELS).toEqual([
      { host: 'sentinel-0', port: 26379 },
      { host: '10.0.0.7', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    expect(c.REDIS_SENTINEL_NAME).toBe('tripwire');
    expect(() => loadConfig({ ...valid, REDIS_SENTINELS: 'sentinel-0' })).toThrow(
      /REDIS_SENTINELS: "sentinel-0" is not host:port/,
    );
    expect(() => loadConfig({ ...valid, REDIS_SENTINELS: 'sentinel-0:70000' })).toThrow(
      /REDIS_SENTINELS/,
    );
    expect(() => loadConfig({ ...valid, REDIS_SENTINEL_NAME: 'a b' })).toThrow(
      /REDIS_SENTINEL_NAME: must be 1 to 64 letters/,
    );
  });
});

describe('fan-out loadConfig: limits, identity and files', () => {
  it('applies the abuse caps and the internal metrics port, and refuses a cap of 0', () => {
    const c = loadConfig(valid);
    expect([c.METRICS_HOST, c.METRICS_PORT, c.TRUST_PROXY]).toEqual(['0.0.0.0', 9464, false]);
    expect([
      c.WS_MAX_CONNECTIONS_PER_OPERATOR,
      c.WS_MAX_CONNECTIONS_PER_ADDRESS,
      c.WS_MAX_TOPICS,
      c.WS_RESUMES_PER_MINUTE,
      c.WS_REPLAY_SLICE_FRAMES,
      c.WS_REPLAY_STALL_MS,
    ]).toEqual([20, 100, 5000, 30, 500, 30_000]);
    expect(loadConfig({ ...valid, TRUST_PROXY: 'true', METRICS_PORT: '0' })).toMatchObject({
      TRUST_PROXY: true,
      METRICS_PORT: 0,
    });
    expect(() => loadConfig({ ...valid, WS_MAX_CONNECTIONS_PER_OPERATOR: '0' })).toThrow(
      /WS_MAX_CONNECTIONS_PER_OPERATOR: must be at least 1/,
    );
    expect(() => loadConfig({ ...valid, WS_REPLAY_STALL_MS: '0' })).toThrow(
      /WS_REPLAY_STALL_MS: must be at least 100/,
    );
  });

  it('applies the identity limits: token and session lifetimes, sign-in and audit-verify rates', () => {
    const c = loadConfig(valid);
    expect([
      c.OPERATOR_TOKEN_MAX_AGE_S,
      c.SESSION_MAX_AGE_S,
      c.SIGN_IN_RATE_LIMIT_PER_MINUTE,
      c.AUDIT_VERIFY_PER_MINUTE,
      c.API_TOKEN_MAX_AGE_DAYS,
      c.WS_CREDENTIAL_RECHECK_MS,
    ]).toEqual([30 * 86_400, 12 * 3600, 10, 6, 365, 2000]);
    expect(loadConfig({ ...valid, SESSION_MAX_AGE_S: '3600' }).SESSION_MAX_AGE_S).toBe(3600);
    const attempt = () =>
      loadConfig({ ...valid, SESSION_MAX_AGE_S: '10', SIGN_IN_RATE_LIMIT_PER_MINUTE: '0' });
    expect(attempt).toThrow(/SESSION_MAX_AGE_S: must be at least 60/);
    expect(attempt).toThrow(/SIGN_IN_RATE_LIMIT_PER_MINUTE: must be at least 1/);
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

describe('fan-out loadConfig: single sign-on', () => {
  it('turns single sign-on on only with a complete, safe OIDC configuration', () => {
    expect(oidcSettings(loadConfig(valid))).toBeNull();
    const sso = {
      ...valid,
      OIDC_ISSUER: 'https://login.example.com/realms/ops',
      OIDC_CLIENT_ID: 'tripwire',
      PUBLIC_URL: 'https://tripwire.example.com',
      OIDC_ADMIN_VALUES: 'sec-admins, tripwire-admins',
    };
    const s = oidcSettings(loadConfig(sso))!;
    expect(s.redirectUrl.href).toBe('https://tripwire.example.com/api/auth/oidc/callback');
    expect(s.postLogoutRedirectUrl.href).toBe('https://tripwire.example.com/');
    expect([s.scopes, s.roleClaim, s.providerName]).toEqual([
      'openid profile email',
      'groups',
      'single sign-on',
    ]);
    expect([s.loginTtlS, s.httpTimeoutS, s.callbacksPerMinute, s.allowHttp]).toEqual([
      600,
      10,
      30,
      false,
    ]);
    expect(s.adminValues).toEqual(['sec-admins', 'tripwire-admins']);
    // Plain http only to a provider and a dashboard on this machine.
    expect(
      oidcSettings(
        loadConfig({
          ...sso,
          OIDC_ISSUER: 'http://localhost:9000',
          PUBLIC_URL: 'http://127.0.0.1:8080',
        }),
      )!.allowHttp,
    ).toBe(true);
    const attempt = () =>
      loadConfig({
        ...valid,
        OIDC_ISSUER: 'http://login.example.com',
        OIDC_SCOPES: 'profile',
        PUBLIC_URL: 'http://tripwire.example.com',
      });
    expect(attempt).toThrow(/OIDC_CLIENT_ID: is required when OIDC_ISSUER is set/);
    expect(attempt).toThrow(/OIDC_ISSUER: must be https/);
    expect(attempt).toThrow(/PUBLIC_URL: must be https/);
    expect(attempt).toThrow(/OIDC_SCOPES: must include "openid"/);
    expect(attempt).toThrow(/OIDC_ADMIN_VALUES: or OIDC_VIEWER_VALUES must list/);
    expect(() =>
      loadConfig({
        ...valid,
        OIDC_ISSUER: 'https://x.example',
        OIDC_CLIENT_ID: 'c',
        OIDC_VIEWER_VALUES: 'v',
      }),
    ).toThrow(/OIDC_REDIRECT_URL: or PUBLIC_URL is required/);
    expect(() => loadConfig({ ...valid, OIDC_CLIENT_ID: 'c' })).toThrow(
      /OIDC_ISSUER: is required when OIDC_CLIENT_ID is set/,
    );
    expect(() => loadConfig({ ...valid, OIDC_LOGIN_TTL_S: '5' })).toThrow(
      /OIDC_LOGIN_TTL_S: must be at least 30/,
    );
  });
});
