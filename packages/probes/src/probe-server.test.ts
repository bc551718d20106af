import { connect } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createProbeServer } from './index.js';

describe('probe server', () => {
  it('answers liveness, readiness (with 503 when not ready) and metrics over real HTTP', async () => {
    const registry = new Registry();
    new Counter({ name: 'tripwire_test_total', help: 'a test counter', registers: [registry] }).inc(
      3,
    );
    let ready = true;
    const probes = createProbeServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      readiness: () => ({ ready, checks: { database: ready } }),
    });
    const port = await probes.start();
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    try {
      expect((await get('/healthz')).status).toBe(200);
      expect(await (await get('/readyz')).json()).toEqual({
        status: 'ready',
        checks: { database: true },
      });
      ready = false;
      const notReady = await get('/readyz');
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ checks: { database: false } });
      expect(await (await get('/metrics')).text()).toContain('tripwire_test_total 3');
      expect((await get('/nope')).status).toBe(404);
    } finally {
      await probes.stop();
    }
  });

  it('closes a connection whose headers never finish, and goes on answering others', async () => {
    const probes = createProbeServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      readiness: () => ({ ready: true, checks: {} }),
      headersTimeoutMs: 200,
      requestTimeoutMs: 400,
    });
    const port = await probes.start();
    try {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (d) => {
        answer += d;
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write('GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Half: ');
      // No sleep: the server, not the test, ends it; vitest's timeout fails a server that never does.
      await closed;
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await probes.stop();
    }
  });
});
