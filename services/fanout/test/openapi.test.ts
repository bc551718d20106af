import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  auth,
  callApi,
  type RunningFanout,
  startFanout,
  useEnvironment,
} from './fanout-harness.js';
import { contract, loadContract } from './openapi-contract.js';

const env = useEnvironment();
let fanout: RunningFanout;
beforeAll(async () => {
  fanout = await startFanout(env);
});
afterAll(async () => {
  await fanout?.stop();
});

const spec = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};

/** Every documented operation as "METHOD /path". */
const documented = () =>
  Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((k) => k !== 'parameters')
      .map((m) => `${m.toUpperCase()} ${path}`),
  );

describe('openapi.yaml', () => {
  it('documents only endpoints the service really serves', async () => {
    const admin = await auth.issue('doc', 'admin');
    const methods = ['get', 'post', 'put', 'patch', 'delete'];
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const method of methods.filter((m) => m in item)) {
        const url = path.replace('{id}', '00000000-0000-4000-8000-000000000000');
        const res = await fetch(`${fanout.url}${url}`, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: ['post', 'put', 'patch'].includes(method) ? '{}' : undefined,
        });
        const body = await res.text();
        // Whatever an empty call gets (a 400, a 404 for the made-up id) is documented too.
        contract().check({
          method,
          path: url,
          status: res.status,
          contentType: res.headers.get('content-type'),
          body,
        });
        // The catch-all answers unknown endpoints with this exact error.
        expect(body, `${method.toUpperCase()} ${path}`).not.toContain('no such endpoint');
      }
    }
  });

  it('documents every response-action endpoint of docs/response-actions.md', () => {
    expect(documented()).toEqual(
      expect.arrayContaining([
        'POST /api/hosts/{id}/tasks',
        'GET /api/hosts/{id}/task-policy',
        'GET /api/tasks',
        'GET /api/tasks/{id}',
        'GET /api/tasks/{id}/output',
        'POST /api/tasks/{id}/cancel',
        'POST /api/tasks/{id}/approve',
      ]),
    );
  });

  it('documents the exports and the alert search of docs/fanout.md', () => {
    expect(documented()).toEqual(
      expect.arrayContaining([
        'GET /api/alerts/export',
        'GET /api/incidents/export',
        'GET /api/audit/export',
      ]),
    );
    const alerts = spec.paths['/api/alerts']?.get as { parameters: Array<{ name?: string }> };
    expect(alerts.parameters.map((p) => p.name)).toContain('q');
  });

  it('documents every incident endpoint of docs/incidents.md', () => {
    expect(documented()).toEqual(
      expect.arrayContaining([
        'GET /api/incidents',
        'POST /api/incidents',
        'GET /api/incidents/{id}',
        'PATCH /api/incidents/{id}',
        'POST /api/incidents/{id}/resolve',
        'GET /api/incidents/{id}/alerts',
      ]),
    );
  });
});

describe('GET /api/openapi.yaml', () => {
  it('serves this document without a credential, as YAML, revalidated by ETag', async () => {
    const res = await fetch(`${fanout.url}/api/openapi.yaml`, {
      headers: { 'accept-encoding': 'identity' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/yaml; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(
      readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'),
    );
    const etag = res.headers.get('etag')!;
    const again = await fetch(`${fanout.url}/api/openapi.yaml`, {
      headers: { 'accept-encoding': 'identity', 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    // fetch asks for gzip and unpacks it: the same document, under its own ETag.
    const packed = await fetch(`${fanout.url}/api/openapi.yaml`);
    expect(packed.headers.get('content-encoding')).toBe('gzip');
    expect(packed.headers.get('etag')).not.toBe(etag);
    expect(parse(await packed.text())).toEqual(spec);
  });
});

describe('the contract check every REST test runs (openapi-contract.ts)', () => {
  const text = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8');
  const answer = (over: Partial<Parameters<ReturnType<typeof loadContract>['check']>[0]>) => ({
    method: 'GET',
    path: '/api/session',
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ name: 'ada', role: 'admin', expires_at: null }),
    ...over,
  });

  it('passes a real answer and fails a drift of the document by one field name', async () => {
    const admin = await auth.issue('ada', 'admin');
    const real = await callApi(fanout.url, '/api/session', { token: admin });
    const body = JSON.stringify(real.body);
    expect(() => loadContract(text).check(answer({ body }))).not.toThrow();
    // The document renames a field the server sends (GET /api/session's expires_at): the same
    // answer now fails.
    const at = text.indexOf('operationId: getSession');
    const block = text.slice(at, text.indexOf('"401":', at));
    const drifted = text.replace(block, block.replaceAll('expires_at', 'expiry'));
    expect(drifted).not.toBe(text);
    expect(() => loadContract(drifted).check(answer({ body }))).toThrow(
      /unevaluatedProperty":"expires_at"/,
    );
  });

  it('fails an undocumented status, content type, field type or operation', () => {
    const check = loadContract(text).check;
    expect(() => check(answer({ status: 418 }))).toThrow(/status not documented/);
    expect(() => check(answer({ contentType: 'text/html' }))).toThrow(/content type text\/html/);
    expect(() => check(answer({ body: '{"name":"ada","role":"root","expires_at":null}' }))).toThrow(
      /role must be equal to one of the allowed values/,
    );
    expect(() => check(answer({ method: 'PUT' }))).toThrow(/no such operation/);
    expect(() =>
      check(
        answer({ status: 401, body: '{"error":{"code":"missing_token","message":"m","extra":1}}' }),
      ),
    ).toThrow(/unevaluatedProperty":"extra"/);
  });
});
