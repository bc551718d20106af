import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { probeResponse } from './probe-response.js';

describe('probeResponse', () => {
  const registry = new Registry();
  new Counter({ name: 'tripwire_test_total', help: 'a test counter', registers: [registry] }).inc(
    2,
  );
  const ready = { registry, readiness: () => ({ ready: true, checks: { database: true } }) };

  it('answers each probe path with its status, content-type and exact body', async () => {
    expect(await probeResponse('/healthz', ready)).toEqual([
      200,
      'application/json',
      '{"status":"ok"}',
    ]);
    expect(await probeResponse('/readyz', ready)).toEqual([
      200,
      'application/json',
      '{"status":"ready","checks":{"database":true}}',
    ]);
    const [status, type, body] = await probeResponse('/metrics', ready);
    expect([status, type]).toEqual([200, registry.contentType]);
    expect(body).toContain('tripwire_test_total 2');
    expect((await probeResponse('/nope', ready))[0]).toBe(404);
  });

  it('answers 503 when not ready, and 500 with the message when a check throws', async () => {
    const draining = {
      registry,
      readiness: async () => ({ ready: false, checks: { database: true, draining: true } }),
    };
    expect(await probeResponse('/readyz', draining)).toEqual([
      503,
      'application/json',
      '{"status":"not ready","checks":{"database":true,"draining":true}}',
    ]);
    const broken = {
      registry,
      readiness: () => {
        throw new Error('pool closed');
      },
    };
    expect(await probeResponse('/readyz', broken)).toEqual([
      500,
      'application/json',
      '{"error":"pool closed"}',
    ]);
  });
});
