// Issue 14, operator sessions and API tokens, tried as an attacker would: a token that never
// expires, a cookie reused after sign-out (on another instance too), an admin's revoke-all, a
// revoked API token, a token in a REST URL, a sign-in flood and a viewer asking for a full
// audit-chain verification. Two fan-out instances share one PostgreSQL and one Redis.
import { liveSessionRefs, secretHash } from '@tripwire/storage';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  JWT_SECRET,
  type RunningFanout,
  signIn,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let a: RunningFanout;
let b: RunningFanout;
let admin: string;

// Sockets recheck their credential often here, so a revocation closes them quickly.
const FAST_RECHECK = { WS_CREDENTIAL_RECHECK_MS: '100' };

beforeAll(async () => {
  [a, b] = await Promise.all([startFanout(env, FAST_RECHECK), startFanout(env, FAST_RECHECK)]);
  admin = await auth.issue('root', 'admin');
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** GET /api/session with a cookie, as the dashboard asks "am I signed in?". */
const whoAmI = (fanout: RunningFanout, cookie: string) =>
  fetchDocumented(`${fanout.url}/api/session`, { headers: { cookie } }).then(async (r) => ({
    status: r.status,
    body: await r.json(),
  }));

/** How many credential rechecks the instance has completed. */
async function rechecks(fanout: RunningFanout): Promise<number> {
  const text = await (await fetch(fanout.metricsUrl)).text();
  const m = /tripwire_fanout_credential_rechecks_total\{outcome="ok"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

/** The instance still serves a valid call and a WebSocket: the attack did not take it down. */
async function stillServing(fanout: RunningFanout) {
  expect((await callApi(fanout.url, '/api/hosts', { token: admin })).status).toBe(200);
  const ws = new Browser(fanout.wsUrl, { token: admin });
  await ws.opened;
  ws.close();
}

/** An HS256 token signed with the right secret, with exactly these claims. */
function jwtWith(claims: Record<string, unknown>) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(JWT_SECRET));
}

describe('operator tokens must expire', () => {
  it('refuses a validly signed admin token without exp: 401 on REST, sign-in and the upgrade', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forever = await jwtWith({ role: 'admin', sub: 'eve', iss: 'tripwire', iat: now });
    const rest = await callApi(a.url, '/api/rules', { token: forever });
    expect(rest).toMatchObject({ status: 401, body: { error: { code: 'token_without_expiry' } } });
    const session = await fetchDocumented(`${a.url}/api/session`, {
      method: 'POST',
      headers: { origin: a.url, 'content-type': 'application/json' },
      body: JSON.stringify({ token: forever }),
    });
    expect(session.status).toBe(401);
    const ws = new Browser(a.wsUrl, { token: forever });
    await expect(ws.opened).rejects.toThrow(/401.*token_without_expiry/);
    await stillServing(a);
  });

  it('refuses a token minted to live longer than OPERATOR_TOKEN_MAX_AGE_S', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tenYears = await jwtWith({
      role: 'admin',
      sub: 'eve',
      iss: 'tripwire',
      iat: now,
      exp: now + 10 * 365 * 86_400,
    });
    const rest = await callApi(a.url, '/api/hosts', { token: tenYears });
    expect(rest).toMatchObject({
      status: 401,
      body: { error: { code: 'token_lifetime_too_long' } },
    });
    // The same token from the CLI's default lifetime is fine.
    expect(
      (await callApi(a.url, '/api/hosts', { token: await auth.issue('eve', 'admin') })).status,
    ).toBe(200);
  });
});

describe('dashboard sessions live in PostgreSQL', () => {
  it('ends a session on both instances at sign-out; its open WebSocket on the other closes 4001', async () => {
    const cookie = await signIn(a.url, await auth.issue('ada', 'viewer'));
    expect((await whoAmI(b, cookie)).status).toBe(200);
    const ws = new Browser(b.wsUrl, { headers: { cookie } });
    await ws.opened;
    // The recheck sees a live session as live: the socket outlives several rechecks.
    const ref = secretHash(cookie.slice('tw_session='.length)).toString('hex');
    expect(await liveSessionRefs(env.pool, [ref])).toEqual(new Set([ref]));
    const before = await rechecks(b);
    await until(async () => (await rechecks(b)) >= before + 2, 5_000, 'two more rechecks');
    ws.send({ type: 'ping' });
    await until(() => ws.ofType('pong').length === 1, 5_000, 'pong on the live session');
    const out = await fetchDocumented(`${a.url}/api/session`, {
      method: 'DELETE',
      headers: { cookie, origin: a.url },
    });
    expect(out.status).toBe(204);
    for (const fanout of [a, b]) {
      expect(await whoAmI(fanout, cookie)).toMatchObject({
        status: 401,
        body: { error: { code: 'session_ended' } },
      });
      const again = new Browser(fanout.wsUrl, { headers: { cookie } });
      await expect(again.opened).rejects.toThrow(/401/);
    }
    expect(await ws.closed).toMatchObject({ code: 4001 });
    const { rows } = await env.pool.query(
      "SELECT action FROM audit_entries WHERE actor = 'operator:ada' ORDER BY seq",
    );
    expect(rows.map((r) => r.action)).toEqual(['session.create', 'session.end']);
    await stillServing(b);
  });

  it('revoke-all ends every session and every earlier JWT of that operator on both instances', async () => {
    const bobToken = await auth.issue('bob', 'admin');
    const cookies = [await signIn(a.url, bobToken), await signIn(b.url, bobToken)];
    const bearerSocket = new Browser(b.wsUrl, { token: bobToken });
    await bearerSocket.opened;
    // A viewer may not do it.
    const viewer = await auth.issue('vic', 'viewer');
    const denied = await callApi(a.url, '/api/operators/bob/sessions', {
      token: viewer,
      method: 'DELETE',
    });
    expect(denied.status).toBe(403);
    const res = await callApi(a.url, '/api/operators/bob/sessions', {
      token: admin,
      method: 'DELETE',
    });
    expect(res).toMatchObject({ status: 200, body: { operator: 'bob', sessions_revoked: 2 } });
    for (const fanout of [a, b]) {
      for (const cookie of cookies) expect((await whoAmI(fanout, cookie)).status).toBe(401);
      expect(await callApi(fanout.url, '/api/hosts', { token: bobToken })).toMatchObject({
        status: 401,
        body: { error: { code: 'revoked_token' } },
      });
    }
    expect(await bearerSocket.closed).toMatchObject({ code: 4001 });
    // A token minted after the revocation works (iat has whole seconds: the next second's).
    await until(
      async () =>
        (await callApi(b.url, '/api/hosts', { token: await auth.issue('bob', 'admin') })).status ===
        200,
      5_000,
      'a token issued after the revocation',
    );
    const { rows } = await env.pool.query(
      "SELECT actor, target FROM audit_entries WHERE action = 'operator.sessions_revoke'",
    );
    expect(rows).toEqual([{ actor: 'operator:root', target: 'bob' }]);
  });

  it('makes no session from an API token: those are for automation', async () => {
    const created = await callApi(a.url, '/api/api-tokens', {
      token: admin,
      method: 'POST',
      body: { name: 'no-dashboard', role: 'admin' },
    });
    const res = await fetchDocumented(`${a.url}/api/session`, {
      method: 'POST',
      headers: { origin: a.url, 'content-type': 'application/json' },
      body: JSON.stringify({ token: created.body.token }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'not_an_operator_token' } });
  });
});

describe('API tokens', () => {
  it('are created once-shown, listed without the secret, and refused everywhere once revoked', async () => {
    const created = await callApi(a.url, '/api/api-tokens', {
      token: admin,
      method: 'POST',
      body: { name: 'siem-export', role: 'viewer', expires_in_days: 7 },
    });
    expect(created).toMatchObject({
      status: 201,
      body: { name: 'siem-export', role: 'viewer', created_by: 'operator:root', revoked_at: null },
    });
    const secret: string = created.body.token;
    expect(secret).toMatch(/^twk_[\w-]{43}$/);
    const listed = await callApi(b.url, '/api/api-tokens', { token: admin });
    const entry = listed.body.tokens.find(
      (t: { token_id: string }) => t.token_id === created.body.token_id,
    );
    expect(entry).toMatchObject({ name: 'siem-export' });
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    // The database keeps a hash only.
    const { rows } = await env.pool.query('SELECT token_hash FROM api_tokens');
    expect(JSON.stringify(rows)).not.toContain(secret.slice(4));

    // It works on REST and the upgrade, as the operator token:siem-export, with its role.
    expect((await callApi(b.url, '/api/hosts', { token: secret })).status).toBe(200);
    expect(
      (await callApi(b.url, '/api/rules', { token: secret, method: 'POST', body: {} })).status,
    ).toBe(403);
    const ws = new Browser(b.wsUrl, { token: secret });
    await ws.opened;

    const revoked = await callApi(a.url, `/api/api-tokens/${created.body.token_id}`, {
      token: admin,
      method: 'DELETE',
    });
    expect(revoked).toMatchObject({ status: 200, body: { revoked_at: expect.any(String) } });
    for (const fanout of [a, b]) {
      expect(await callApi(fanout.url, '/api/hosts', { token: secret })).toMatchObject({
        status: 401,
        body: { error: { code: 'revoked_token' } },
      });
      const again = new Browser(fanout.wsUrl, { query: { access_token: secret } });
      await expect(again.opened).rejects.toThrow(/401/);
    }
    expect(await ws.closed).toMatchObject({ code: 4001 });
    const audit = await env.pool.query(
      'SELECT action FROM audit_entries WHERE target = $1 ORDER BY seq',
      [created.body.token_id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['api_token.create', 'api_token.revoke']);
    await stillServing(b);
  });

  it('are for admins only, validated field by field, and 404 for an unknown id', async () => {
    const viewer = await auth.issue('vic', 'viewer');
    expect((await callApi(a.url, '/api/api-tokens', { token: viewer })).status).toBe(403);
    const bad = await callApi(a.url, '/api/api-tokens', {
      token: admin,
      method: 'POST',
      body: { name: 'x\u0000y', role: 'root', expires_in_days: 100_000, extra: 1 },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.error.fields).sort()).toEqual([
      'expires_in_days',
      'extra',
      'name',
      'role',
    ]);
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid']) {
      const res = await callApi(a.url, `/api/api-tokens/${id}`, { token: admin, method: 'DELETE' });
      expect(res.status).toBe(404);
    }
  });
});

describe('tokens in URLs', () => {
  it('refuses ?access_token= on REST with a message naming the header, and keeps it on the upgrade', async () => {
    const res = await fetchDocumented(`${a.url}/api/hosts?access_token=${admin}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      error: { code: 'token_in_query', message: expect.stringMatching(/Authorization: Bearer/) },
    });
    // Even next to a valid header: the token is already in someone's logs.
    const both = await fetchDocumented(`${a.url}/api/hosts?access_token=x`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(both.status).toBe(401);
    const ws = new Browser(a.wsUrl, { query: { access_token: admin } });
    await ws.opened;
    ws.close();
    await stillServing(a);
  });
});

describe('rate limits', () => {
  let limited: RunningFanout;
  beforeAll(async () => {
    limited = await startFanout(env, {
      SIGN_IN_RATE_LIMIT_PER_MINUTE: '3',
      AUDIT_VERIFY_PER_MINUTE: '2',
      TRUST_PROXY: 'true',
    });
  });
  afterAll(() => limited?.stop());

  const signInFrom = (address: string, token: string) =>
    fetchDocumented(`${limited.url}/api/session`, {
      method: 'POST',
      headers: {
        origin: limited.url,
        'content-type': 'application/json',
        'x-forwarded-for': address,
      },
      body: JSON.stringify({ token }),
    });

  it('answers 429 after SIGN_IN_RATE_LIMIT_PER_MINUTE attempts from one address, good or bad', async () => {
    const good = await auth.issue('gina', 'viewer');
    expect((await signInFrom('203.0.113.7', 'guess-1')).status).toBe(401);
    expect((await signInFrom('203.0.113.7', 'guess-2')).status).toBe(401);
    expect((await signInFrom('203.0.113.7', good)).status).toBe(200);
    const refused = await signInFrom('203.0.113.7', good);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: { code: 'too_many_sign_ins' } });
    // Another address is not held up, and the refusals are counted.
    expect((await signInFrom('198.51.100.9', good)).status).toBe(200);
    const metrics = await (await fetch(limited.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_client_errors_total\{code="too_many_sign_ins"\} 1/);
    await stillServing(limited);
  });

  it('lets only admins verify the audit chain, at most AUDIT_VERIFY_PER_MINUTE times', async () => {
    const viewer = await auth.issue('vic', 'viewer');
    // A responder (response actions) is no admin either.
    const responder = await auth.issue('rita', 'responder');
    for (const token of [viewer, responder])
      expect(await callApi(limited.url, '/api/audit/verify', { token })).toMatchObject({
        status: 403,
        body: { error: { code: 'forbidden_role' } },
      });
    expect((await callApi(limited.url, '/api/audit/verify', { token: admin })).body.ok).toBe(true);
    expect((await callApi(limited.url, '/api/audit/verify', { token: admin })).status).toBe(200);
    expect(await callApi(limited.url, '/api/audit/verify', { token: admin })).toMatchObject({
      status: 429,
      body: { error: { code: 'too_many_audit_verifications' } },
    });
    await stillServing(limited);
  });
});
