import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { AlertServiceClient, RegisterAgentResponse } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  ENROLLMENT_TOKEN,
  type RunningFanout,
  startFanout,
  startIngest,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let ingest: Awaited<ReturnType<typeof startIngest>>;
let client: AlertServiceClient;
let admin: string;
let viewer: string;

beforeAll(async () => {
  ingest = await startIngest(env);
  client = ingest.client;
  fanout = await startFanout(env);
  admin = await auth.issue('root', 'admin');
  viewer = await auth.issue('vic', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
  await ingest?.stop();
});

const api = (path: string, options: { method?: string; body?: unknown; token?: string } = {}) =>
  callApi(fanout.url, path, { token: admin, ...options });

function register(hostname: string, bearer: string, key?: string): Promise<RegisterAgentResponse> {
  const m = new Metadata();
  m.set('authorization', `Bearer ${bearer}`);
  if (key) m.set('x-tripwire-enrollment-key', key);
  return new Promise((resolve, reject) =>
    client.registerAgent({ hostname, platform: 'linux', agentVersion: '1.0' }, m, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

const refused = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: status.OK, details: '' }),
    (err: ServiceError) => ({ code: err.code, details: err.details }),
  );

/** Whether a StreamAlerts call with this token is accepted (it ends cleanly) or refused. */
function streamStatus(token: string): Promise<status> {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  const call = client.streamAlerts(m);
  call.on('data', () => {});
  call.on('error', () => {});
  const done = new Promise<status>((resolve) => call.on('status', (s) => resolve(s.code)));
  call.end();
  return done;
}

describe('/api/enrollment-tokens', () => {
  it('is admin only', async () => {
    expect((await api('/api/enrollment-tokens', { token: viewer })).status).toBe(403);
    const create = await api('/api/enrollment-tokens', {
      token: viewer,
      method: 'POST',
      body: { name: 'x' },
    });
    expect(create.status).toBe(403);
    expect((await api('/api/enrollments/pending', { token: viewer })).status).toBe(403);
  });

  it('creates a token shown once, enrolls with it, and revokes it', async () => {
    const created = await api('/api/enrollment-tokens', {
      method: 'POST',
      body: { name: 'web fleet', max_uses: 2, expires_in_s: 3600, hostname_pattern: 'web-*' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'web fleet',
      max_uses: 2,
      uses: 0,
      status: 'active',
      hostname_pattern: 'web-*',
      created_by: 'operator:root',
      token: expect.stringMatching(/^twe_[A-Za-z0-9_-]{43}$/),
    });
    const { token, token_id: id } = created.body;
    const listed = await api('/api/enrollment-tokens');
    expect(listed.body.tokens).toEqual([expect.objectContaining({ token_id: id })]);
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const { rows } = await env.pool.query('SELECT * FROM enrollment_tokens WHERE token_id = $1', [
      id,
    ]);
    expect(JSON.stringify(rows[0])).not.toContain(token);

    expect((await register('web-11', token)).hostId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await refused(register('db-11', token))).code).toBe(status.UNAUTHENTICATED);
    expect((await api('/api/enrollment-tokens')).body.tokens[0].uses).toBe(1);

    const revoked = await api(`/api/enrollment-tokens/${id}`, { method: 'DELETE' });
    expect(revoked).toMatchObject({
      status: 200,
      body: { status: 'revoked', revoked_by: 'operator:root' },
    });
    expect(await refused(register('web-12', token))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringContaining('revoked'),
    });
    expect((await api(`/api/enrollment-tokens/${id}`, { method: 'DELETE' })).status).toBe(200);
    const audit = await env.pool.query(
      "SELECT action FROM audit_entries WHERE target = $1 AND action LIKE 'enrollment_token.%' ORDER BY seq",
      [id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'enrollment_token.create',
      'enrollment_token.refused',
      'enrollment_token.revoke',
      'enrollment_token.refused',
    ]);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await api(`/api/enrollment-tokens/${unknown}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses bad fields with a 400 naming each', async () => {
    const bad = await api('/api/enrollment-tokens', {
      method: 'POST',
      body: {
        name: '',
        max_uses: 0,
        expires_in_s: 400 * 86_400,
        hostname_pattern: 'web 01',
        extra: 1,
      },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.error.fields).sort()).toEqual(
      ['expires_in_s', 'extra', 'hostname_pattern', 'max_uses', 'name'].sort(),
    );
    // Still serving.
    expect((await api('/api/enrollment-tokens')).status).toBe(200);
  });
});

describe('/api/enrollments: re-registration approved by an admin', () => {
  it('holds a takeover pending; approval lets that requester in, alerts live, and is audited', async () => {
    const victim = await register('app-01', ENROLLMENT_TOKEN);
    const key = 'reinstalled-agent-key-0123456789';
    const attempt = await refused(register('app-01', ENROLLMENT_TOKEN, key));
    expect(attempt.code).toBe(status.ALREADY_EXISTS);
    const id = /pending enrollment ([0-9a-f-]{36})/.exec(attempt.details)?.[1];
    const pending = await api('/api/enrollments/pending');
    expect(pending.body.enrollments).toEqual([
      expect.objectContaining({ enrollment_id: id, hostname: 'app-01', state: 'pending' }),
    ]);
    // Until approved, the real agent keeps its token; another requester's key gets nothing.
    expect(await streamStatus(victim.agentToken)).toBe(status.OK);

    const browser = new Browser(fanout.wsUrl, { token: viewer });
    await browser.opened;
    await until(() => browser.ofType('welcome').length === 1);
    const approved = await api(`/api/enrollments/${id}/approve`, { method: 'POST', body: {} });
    expect(approved).toMatchObject({
      status: 200,
      body: { enrollment: { state: 'approved', decided_by: 'operator:root' } },
    });
    expect(
      (await refused(register('app-01', ENROLLMENT_TOKEN, 'another-key-0123456789'))).code,
    ).toBe(status.ALREADY_EXISTS);
    const taken = await register('app-01', ENROLLMENT_TOKEN, key);
    expect(taken.hostId).toBe(victim.hostId);
    expect(await streamStatus(victim.agentToken)).toBe(status.UNAUTHENTICATED);
    expect(await streamStatus(taken.agentToken)).toBe(status.OK);

    const reEnrollment = () =>
      browser
        .ofType('alert')
        .find((f) => (f.data as { rule_name: string }).rule_name === 'tripwire.re-enrollment');
    await until(() => reEnrollment() !== undefined);
    const alert = reEnrollment()!;
    expect(alert.data).toMatchObject({
      alert_id: id,
      host_id: victim.hostId,
      severity: 'CRITICAL',
      event_detail: expect.objectContaining({ method: 'approval', approved_by: 'operator:root' }),
    });
    browser.close();
    const stored = await api(`/api/alerts?host_id=${victim.hostId}&severity=CRITICAL`);
    expect(stored.body.alerts.map((a: { alert_id: string }) => a.alert_id)).toContain(id);
    const audit = await env.pool.query(
      "SELECT action, actor FROM audit_entries WHERE host_id = $1 AND action IN ('host.enrollment_pending', 'enrollment.approve', 'host.re_enroll') ORDER BY seq",
      [victim.hostId],
    );
    expect(audit.rows).toEqual([
      { action: 'host.enrollment_pending', actor: 'agent:app-01' },
      { action: 'enrollment.approve', actor: 'operator:root' },
      // The other requester asked too (its own pending enrollment).
      { action: 'host.enrollment_pending', actor: 'agent:app-01' },
      { action: 'host.re_enroll', actor: 'agent:app-01' },
    ]);
    // An approval is used once.
    expect((await api(`/api/enrollments/${id}/approve`, { method: 'POST', body: {} })).status).toBe(
      404,
    );
    expect((await refused(register('app-01', ENROLLMENT_TOKEN, key))).code).toBe(
      status.ALREADY_EXISTS,
    );
  });

  it('keeps a denied requester refused', async () => {
    const victim = await register('app-02', ENROLLMENT_TOKEN);
    const key = 'denied-agent-key-0123456789abcdef';
    const attempt = await refused(register('app-02', ENROLLMENT_TOKEN, key));
    const id = /pending enrollment ([0-9a-f-]{36})/.exec(attempt.details)?.[1];
    const denied = await api(`/api/enrollments/${id}/deny`, { method: 'POST', body: {} });
    expect(denied.body.enrollment.state).toBe('denied');
    expect(await refused(register('app-02', ENROLLMENT_TOKEN, key))).toMatchObject({
      code: status.ALREADY_EXISTS,
      details: expect.stringContaining(`${id} was denied by operator:root`),
    });
    expect((await api(`/api/enrollments/${id}/approve`, { method: 'POST', body: {} })).status).toBe(
      409,
    );
    expect(await streamStatus(victim.agentToken)).toBe(status.OK);
    const pending = await api('/api/enrollments/pending');
    expect(
      pending.body.enrollments.map((e: { enrollment_id: string }) => e.enrollment_id),
    ).not.toContain(id);
  });
});
