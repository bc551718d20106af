import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { auth, type RunningFanout, startFanout, useEnvironment } from './fanout-harness.js';

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
