// Issue 13, rows 1 and 6, and /metrics off the public port: what an attacker sends to the
// fan-out's public port gets a specific answer, and the node goes on serving.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  type RunningFanout,
  signIn,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let fanout: RunningFanout;
let admin: string;

beforeAll(async () => {
  fanout = await startFanout(env);
  admin = await auth.issue('ada', 'admin');
});
afterAll(async () => {
  await fanout?.stop();
});

const rule = () => ({
  host_id: null,
  name: `rule-${randomUUID()}`,
  tripwire_type: 'FILE',
  severity: 'WARN',
  target: '/etc/hosts',
});

/** A raw REST call: every header as given, the body as a string. */
async function send(
  path: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) {
  const res = await fetchDocumented(`${fanout.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The node still answers a valid call: it did not crash or wedge. */
async function stillServing() {
  const res = await callApi(fanout.url, '/api/session', { token: admin });
  expect(res.status).toBe(200);
  const ws = new Browser(fanout.wsUrl, { token: admin });
  await ws.opened;
  ws.close();
}

describe('row 1: a malformed session cookie', () => {
  it('is no cookie: the upgrade answers 401 missing_token and the process lives on', async () => {
    const browser = new Browser(fanout.wsUrl, { headers: { cookie: 'tw_session=%E0%A4%A' } });
    await expect(browser.opened).rejects.toThrow();
    expect(browser.unexpectedResponse?.status).toBe(401);
    expect(JSON.parse(browser.unexpectedResponse!.body)).toMatchObject({
      error: { code: 'missing_token' },
    });
    await stillServing();
  });

  it('on REST answers 401 missing_token, not 503', async () => {
    const res = await send('/api/alerts', {
      method: 'GET',
      headers: { cookie: 'theme=dark; tw_session=%E0%A4%A' },
    });
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'missing_token' } } });
    await stillServing();
  });

  it('a JSON body nested 10,000 deep answers 400 invalid_json', async () => {
    const res = await send('/api/rules', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    await stillServing();
  });
});

describe('row 6: cross-site requests', () => {
  let session = '';
  beforeAll(async () => {
    session = await signIn(fanout.url, admin);
  });
  const cookie = () => ({ cookie: session });

  it('refuses a cookie-authenticated write from another origin, even as text/plain', async () => {
    const res = await send('/api/rules', {
      method: 'POST',
      headers: { ...cookie(), origin: 'http://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify(rule()),
    });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'cross_site_request' } } });
    // A sibling port is same-site for the cookie, but not the same origin.
    const sibling = await send('/api/rules', {
      method: 'POST',
      headers: {
        ...cookie(),
        origin: 'http://127.0.0.1:1',
        'content-type': 'application/json',
      },
      body: JSON.stringify(rule()),
    });
    expect(sibling.status).toBe(403);
    // Without Origin or Sec-Fetch-Site nothing proves where it comes from.
    const bare = await send('/api/rules', {
      method: 'POST',
      headers: { ...cookie(), 'content-type': 'application/json' },
      body: JSON.stringify(rule()),
    });
    expect(bare.status).toBe(403);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_client_errors_total\{code="cross_site_request"\} 3/);
    await stillServing();
  });

  it('takes a cookie-authenticated write from its own origin, or Sec-Fetch-Site: same-origin', async () => {
    const own = await send('/api/rules', {
      method: 'POST',
      headers: { ...cookie(), origin: fanout.url, 'content-type': 'application/json' },
      body: JSON.stringify(rule()),
    });
    expect(own.status).toBe(201);
    const fetchMetadata = await send(`/api/rules/${own.body.rule_id}`, {
      method: 'DELETE',
      headers: { ...cookie(), 'sec-fetch-site': 'same-origin' },
    });
    expect(fetchMetadata.status).toBe(204);
  });

  it('needs application/json for a body, from a cookie or a bearer token (415)', async () => {
    const res = await send('/api/rules', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/plain' },
      body: JSON.stringify(rule()),
    });
    expect(res).toMatchObject({
      status: 415,
      body: { error: { code: 'unsupported_media_type' } },
    });
    // A bearer token is no ambient credential: no Origin needed.
    const bearer = await send('/api/rules', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(rule()),
    });
    expect(bearer.status).toBe(201);
  });

  it('refuses a sign-in from another origin (login CSRF)', async () => {
    const res = await send('/api/session', {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ token: admin }),
    });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'cross_site_request' } } });
    await stillServing();
  });
});

describe('the scheme of the Origin, when the public origin is https (COOKIE_SECURE)', () => {
  it('refuses an http page on the same host: on the upgrade and on a cookie write', async () => {
    const secure = await startFanout(env, { COOKIE_SECURE: 'true' });
    try {
      const host = new URL(secure.url).host;
      const plain = new Browser(secure.wsUrl, { token: admin, origin: `http://${host}` });
      await expect(plain.opened).rejects.toThrow();
      expect(plain.unexpectedResponse?.status).toBe(403);
      expect(JSON.parse(plain.unexpectedResponse!.body)).toMatchObject({
        error: { code: 'origin_not_allowed' },
      });
      const write = await fetchDocumented(`${secure.url}/api/rules`, {
        method: 'POST',
        headers: {
          cookie: `tw_session=${admin}`,
          origin: `http://${host}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(rule()),
      });
      expect(write.status).toBe(403);
      expect(await write.json()).toMatchObject({ error: { code: 'cross_site_request' } });
      // The https origin of the same host is the dashboard's own.
      const own = new Browser(secure.wsUrl, { token: admin, origin: `https://${host}` });
      await own.opened;
      own.close();
    } finally {
      await secure.stop();
    }
    await stillServing();
  });
});

describe('client values echoed in answers', () => {
  // Just under uWebSockets.js's 4 KiB header limit (a longer request never reaches a handler).
  const long = (prefix: string) => `${prefix}${'a'.repeat(3000)}`;

  it('clips a huge Origin in the 403', async () => {
    const browser = new Browser(fanout.wsUrl, { token: admin, origin: long('http://evil.') });
    await expect(browser.opened).rejects.toThrow();
    expect(browser.unexpectedResponse?.status).toBe(403);
    const { error } = JSON.parse(browser.unexpectedResponse!.body);
    expect(error.code).toBe('origin_not_allowed');
    expect(error.message).toMatch(/^origin "http:\/\/evil\.a+…" is not allowed$/);
    expect(error.message.length).toBeLessThan(120);
    await stillServing();
  });

  it('clips a huge `since` in welcome.resume and in the resume_unavailable error', async () => {
    const browser = new Browser(fanout.wsUrl, { token: admin, query: { since: long('1-') } });
    await until(() => browser.ofType('error').length === 1);
    const resume = browser.ofType('welcome')[0]!.resume as Record<string, string>;
    expect(resume).toMatchObject({
      status: 'unavailable',
      since: expect.stringMatching(/^1-a+…$/),
    });
    expect(resume.since!.length).toBeLessThanOrEqual(65);
    expect(resume.reason!.length).toBeLessThan(150);
    const error = browser.ofType('error')[0]!;
    expect(error.code).toBe('resume_unavailable');
    expect(String(error.message).length).toBeLessThan(300);
    browser.close();
    await stillServing();
  });
});

describe('/metrics', () => {
  it('is served on METRICS_PORT only; the public port answers 404', async () => {
    const res = await fetch(`${fanout.url}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no such endpoint' } });
    expect((await fetchDocumented(`${fanout.url}/readyz`)).status).toBe(200);
    const metrics = await fetch(fanout.metricsUrl);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('tripwire_fanout_connections');
  });
});
