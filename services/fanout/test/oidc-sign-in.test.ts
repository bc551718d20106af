// Single sign-on against a real OpenID provider (oidc-provider) over plain HTTP: who gets a
// session, and every way a callback can be forged, replayed or altered getting none.
import { freePort } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginStateSealer } from '../src/oidc-login-state.js';
import { JWT_SECRET, type RunningFanout, startFanout, useEnvironment } from './fanout-harness.js';
import {
  type PendingSignIn,
  sendCallback,
  sessionCookieOf,
  signInAtProvider,
} from './oidc-flow.js';
import { startTestProvider, type TestProvider } from './oidc-test-provider.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let provider: TestProvider;
let fanout: RunningFanout;

beforeAll(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  provider = await startTestProvider(publicUrl);
  fanout = await startFanout(env, { PORT: String(port), ...provider.fanoutEnv(publicUrl) });
});

afterAll(async () => {
  await fanout?.stop();
  await provider?.stop();
});

const session = (cookie: string) =>
  fetchDocumented(`${fanout.url}/api/session`, { headers: { cookie } }).then(async (r) => ({
    status: r.status,
    body: await r.json(),
  }));

const apiError = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

const signInCount = async (outcome: string) => {
  const text = await (await fetch(fanout.metricsUrl)).text();
  const line = new RegExp(
    `^tripwire_fanout_oidc_sign_ins_total\\{outcome="${outcome}"\\} (\\d+)`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? 0);
};

/** After a refused callback: the fan-out goes on, and no new session appeared. */
async function expectStillServing() {
  const config = await fetchDocumented(`${fanout.url}/api/auth/config`);
  expect(await config.json()).toEqual({
    oidc: { name: 'Test IdP', login_url: '/api/auth/oidc/login' },
  });
}

describe('single sign-on (OIDC)', () => {
  it('signs an admin in: a session cookie, the dashboard at /, an audit entry, a count', async () => {
    const before = await signInCount('signed_in');
    const pending = await signInAtProvider(fanout.url, 'ada');
    const res = await sendCallback(pending.callbackUrl, pending.loginCookie);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/');
    const cookie = sessionCookieOf(res);
    expect(cookie).not.toBeNull();
    expect(await session(cookie!)).toMatchObject({
      status: 200,
      body: { name: 'ada', role: 'admin' },
    });
    // The login state is single-use: its cookie is cleared.
    expect(res.headers.getSetCookie().some((c) => /^tw_oidc_login=;.*Max-Age=0/.test(c))).toBe(
      true,
    );
    const { rows } = await env.pool.query(
      "SELECT actor, details FROM audit_entries WHERE action = 'session.create' AND actor = 'operator:ada'",
    );
    expect(rows.at(-1)?.details).toMatchObject({ role: 'admin', via: 'oidc' });
    expect(await signInCount('signed_in')).toBe(before + 1);
  });

  it('maps a viewer group to the viewer role', async () => {
    const pending = await signInAtProvider(fanout.url, 'vic');
    const res = await sendCallback(pending.callbackUrl, pending.loginCookie);
    expect(await session(sessionCookieOf(res)!)).toMatchObject({
      status: 200,
      body: { name: 'vic', role: 'viewer' },
    });
  });

  it('refuses a user with no mapped group with a clear page, and signs nobody in', async () => {
    const before = await signInCount('no_role');
    const pending = await signInAtProvider(fanout.url, 'mallory');
    const res = await sendCallback(pending.callbackUrl, pending.loginCookie, 'text/html');
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    const page = await res.text();
    expect(page).toContain('Your account has no TripWire role');
    expect(page).toContain('signed you in as mallory');
    expect(sessionCookieOf(res)).toBeNull();
    expect(await signInCount('no_role')).toBe(before + 1);
  });

  it('refuses a forged callback (no login cookie): 400, no session', async () => {
    const forged = `${fanout.url}/api/auth/oidc/callback?code=stolen-or-made-up&state=whatever`;
    const res = await sendCallback(forged, '');
    expect(res.status).toBe(400);
    expect((await apiError(res)).code).toBe('bad_sign_in_state');
    expect(sessionCookieOf(res)).toBeNull();
    // A real code from someone else's sign-in, without their cookie: refused the same way
    // (login CSRF: an attacker cannot sign a victim's browser in as the attacker).
    const attackers = await signInAtProvider(fanout.url, 'ada');
    const planted = await sendCallback(attackers.callbackUrl, '');
    expect(planted.status).toBe(400);
    expect(sessionCookieOf(planted)).toBeNull();
    await expectStillServing();
  });

  it('refuses a callback whose state belongs to another sign-in of this browser', async () => {
    const first = await signInAtProvider(fanout.url, 'ada');
    const second = await signInAtProvider(fanout.url, 'ada');
    const res = await sendCallback(first.callbackUrl, second.loginCookie);
    expect(res.status).toBe(400);
    expect(await apiError(res)).toMatchObject({ code: 'bad_sign_in_state' });
    expect(sessionCookieOf(res)).toBeNull();
  });

  it('refuses an ID token whose nonce is not the one this sign-in sent: 401, no session', async () => {
    const pending = await signInAtProvider(fanout.url, 'ada');
    const sealer = createLoginStateSealer(JWT_SECRET, 600, false);
    const login = (await sealer.open(pending.loginCookie))!;
    expect(login).not.toBeNull();
    const swapped = (await sealer.seal({ ...login, nonce: 'a-nonce-from-elsewhere' })).split(
      ';',
    )[0]!;
    const res = await sendCallback(pending.callbackUrl, swapped);
    expect(res.status).toBe(401);
    expect((await apiError(res)).code).toBe('sign_in_not_verified');
    expect(sessionCookieOf(res)).toBeNull();
    await expectStillServing();
  });

  it('refuses an altered login cookie and a replayed callback', async () => {
    const pending: PendingSignIn = await signInAtProvider(fanout.url, 'ada');
    const altered = `${pending.loginCookie.slice(0, -4)}AAAA`;
    const tampered = await sendCallback(pending.callbackUrl, altered);
    expect(tampered.status).toBe(400);
    expect(sessionCookieOf(tampered)).toBeNull();

    const first = await sendCallback(pending.callbackUrl, pending.loginCookie);
    expect(first.status).toBe(302);
    const replay = await sendCallback(pending.callbackUrl, pending.loginCookie);
    expect(replay.status).toBe(401);
    expect(sessionCookieOf(replay)).toBeNull();
    await expectStillServing();
  });
});

describe('single sign-on when the provider is down, and without it', () => {
  let down: RunningFanout;
  let plain: RunningFanout;

  beforeAll(async () => {
    const port = await freePort();
    const deadIssuer = `http://127.0.0.1:${await freePort()}`;
    down = await startFanout(env, {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OIDC_ISSUER: deadIssuer,
      OIDC_CLIENT_ID: 'tripwire',
      OIDC_ADMIN_VALUES: 'admins',
      OIDC_CALLBACKS_PER_MINUTE: '2',
      OIDC_HTTP_TIMEOUT_S: '2',
    });
    plain = await startFanout(env);
  });

  afterAll(async () => {
    await down?.stop();
    await plain?.stop();
  });

  it('answers 502 with a page when the provider cannot be reached, and goes on', async () => {
    const res = await fetchDocumented(`${down.url}/api/auth/oidc/login`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('cannot be reached');
    const metrics = await (await fetch(down.metricsUrl)).text();
    expect(metrics).toMatch(
      /tripwire_fanout_oidc_sign_ins_total\{outcome="provider_unreachable"\} 1/,
    );
    expect((await fetchDocumented(`${down.url}/api/auth/config`)).status).toBe(200);
  });

  it('limits callbacks per address (429), each one a request to the provider', async () => {
    const forged = `${down.url}/api/auth/oidc/callback?code=x&state=y`;
    expect((await sendCallback(forged, '')).status).toBe(400);
    expect((await sendCallback(forged, '')).status).toBe(400);
    const limited = await sendCallback(forged, '');
    expect(limited.status).toBe(429);
    expect((await apiError(limited)).code).toBe('rate_limited');
  });

  it('tells the dashboard that single sign-on is off, and its routes say so', async () => {
    expect(await (await fetchDocumented(`${plain.url}/api/auth/config`)).json()).toEqual({
      oidc: null,
    });
    for (const route of ['login', 'callback', 'logout']) {
      const res = await fetchDocumented(`${plain.url}/api/auth/oidc/${route}`, {
        redirect: 'manual',
      });
      expect(res.status).toBe(404);
      expect((await apiError(res)).code).toBe('sso_not_configured');
    }
  });
});
