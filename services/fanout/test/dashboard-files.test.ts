import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../src/dashboard-files.js';
import { type RunningFanout, startFanout, useEnvironment } from './fanout-harness.js';

const env = useEnvironment();
const INDEX =
  '<!doctype html><html><head><title>TripWire</title></head><body><div id="app"></div></body></html>';
// Big enough to be worth compressing.
const SCRIPT = `console.log(${JSON.stringify('tripwire '.repeat(400))});\n`;
const STYLE = 'body{margin:0}';

let dir: string;
let served: RunningFanout;
let missing: RunningFanout;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tripwire-dashboard-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'assets', 'x.js'), SCRIPT);
  writeFileSync(join(dir, 'assets', 'index-4f2a9c.css'), STYLE);
  writeFileSync(join(dir, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
  served = await startFanout(env, { DASHBOARD_DIR: dir });
  missing = await startFanout(env, { DASHBOARD_DIR: join(dir, 'not-built') });
});
afterAll(async () => {
  await served?.stop();
  await missing?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = (base: RunningFanout, path: string, headers: Record<string, string> = {}) =>
  fetch(`${base.url}${path}`, { headers });

function expectHtmlSecurityHeaders(res: Response) {
  expect(res.headers.get('content-security-policy')).toBe(
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  );
  expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('the dashboard at /', () => {
  it('serves index.html at / and /index.html, uncached, with the security headers, to anyone', async () => {
    for (const path of ['/', '/index.html']) {
      const res = await get(served, path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expectHtmlSecurityHeaders(res);
      expect(await res.text()).toBe(INDEX);
    }
  });

  it('answers the app’s own routes with index.html', async () => {
    for (const path of ['/alerts', '/hosts', '/rules', '/audit', '/alerts/abc-123', '/hosts/']) {
      const res = await get(served, `${path}?severity=CRITICAL`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expectHtmlSecurityHeaders(res);
      expect(await res.text()).toBe(INDEX);
    }
  });

  it('serves hashed assets with their content type, cached for a year, gzipped when asked', async () => {
    const js = await get(served, '/assets/x.js', { 'accept-encoding': 'gzip' });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect(js.headers.get('content-encoding')).toBe('gzip');
    expect(js.headers.get('vary')).toBe('accept-encoding');
    expect(await js.text()).toBe(SCRIPT);

    const plain = await get(served, '/assets/x.js', { 'accept-encoding': 'identity' });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(SCRIPT);

    const css = await get(served, '/assets/index-4f2a9c.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await css.text()).toBe(STYLE);
  });

  it('serves other files at their path, and answers a matching ETag with 304', async () => {
    const icon = await get(served, '/favicon.ico');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
    expect(icon.headers.get('cache-control')).toBe('no-cache');
    expect(Buffer.from(await icon.arrayBuffer())).toEqual(Buffer.from([0, 0, 1, 0]));

    const first = await get(served, '/');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const again = await get(served, '/', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers unknown files with 404', async () => {
    for (const path of ['/assets/missing.js', '/assets/no-extension', '/missing.png']) {
      const res = await get(served, path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    }
  });

  it('leaves the service’s own paths alone: unknown API paths still get the JSON 404', async () => {
    for (const path of [
      '/api/nope',
      '/api',
      '/api/hosts/extra/deep',
      '/ws/nope',
      '/metrics/x',
      // Not on the public port: on METRICS_PORT.
      '/metrics',
    ]) {
      const res = await get(served, path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({
        error: { code: 'not_found', message: 'no such endpoint' },
      });
    }
    expect((await get(served, '/healthz')).status).toBe(200);
    const api = await get(served, '/api/hosts');
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('missing_token');
    const ws = await get(served, '/ws/alerts');
    expect(ws.headers.get('content-type')).not.toContain('text/html');
  });
});

describe('without a built dashboard', () => {
  it('starts anyway, warns, and answers / with a 503 page naming the build command', async () => {
    expect(
      missing.logs.some((line) => {
        const entry = JSON.parse(line) as { level: number; msg: string; reason?: string };
        return entry.level === 40 && /no dashboard to serve/.test(entry.msg);
      }),
    ).toBe(true);
    for (const path of ['/', '/alerts']) {
      const res = await get(missing, path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expectHtmlSecurityHeaders(res);
      expect(await res.text()).toContain('pnpm --filter @tripwire/dashboard build');
    }
    const api = await get(missing, '/api/nope');
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { message: string } }).error.message).toBe(
      'no such endpoint',
    );
    expect((await get(missing, '/healthz')).status).toBe(200);
  });
});
