import { randomBytes, randomUUID } from 'node:crypto';
import { type BusEntry, BusSubscriber, createRedisClient } from '@tripwire/bus';
import { insertAlerts, type Severity, upsertHost } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  callApi,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;
let admin: string;

beforeAll(async () => {
  fanout = await startFanout(env);
  viewer = await auth.issue('vic', 'viewer');
  admin = await auth.issue('ada', 'admin');
});
afterAll(async () => {
  await fanout?.stop();
});

const api = (
  path: string,
  options: {
    token?: string;
    method?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
) => callApi(fanout.url, path, options);

const newHost = (name = `host-${randomUUID().slice(0, 8)}`) =>
  upsertHost(env.pool, {
    hostname: name,
    platform: 'linux',
    agentVersion: '2.0',
    agentTokenHash: randomBytes(32),
  });

const storedAlert = (hostId: string, severity: Severity = 'WARN') => ({
  alertId: randomUUID(),
  hostId,
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'FILE' as const,
  severity,
  ruleName: 'stats',
  eventDetailJson: null,
});

describe('REST API', () => {
  it('refuses requests without a valid token, with a JSON error', async () => {
    const res = await api('/api/alerts');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'missing_token', message: expect.any(String) } });
    expect((await api('/api/alerts', { token: 'garbage' })).status).toBe(401);
  });

  it('pages alerts by cursor, filtered by host, severity and type, newest first', async () => {
    const host = await newHost();
    const alerts = Array.from({ length: 12 }, (_, i) => ({
      alertId: randomUUID(),
      hostId: host.hostId,
      occurredAtUs: Date.now() * 1000,
      tripwireType: i % 2 ? ('FILE' as const) : ('NETWORK' as const),
      severity: i % 3 ? ('CRITICAL' as const) : ('INFO' as const),
      ruleName: `r${i}`,
      eventDetailJson: JSON.stringify({ i }),
    }));
    for (const a of alerts) await insertAlerts(env.pool, [a]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({
        host_id: host.hostId,
        severity: 'CRITICAL',
        type: 'FILE',
        limit: '2',
      });
      if (cursor) q.set('cursor', cursor);
      const res = await api(`/api/alerts?${q}`, { token: viewer });
      expect(res.status).toBe(200);
      seen.push(...res.body.alerts.map((a: { alert_id: string }) => a.alert_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    const expected = alerts
      .filter((a) => a.severity === 'CRITICAL' && a.tripwireType === 'FILE')
      .map((a) => a.alertId)
      .reverse();
    expect(seen).toEqual(expected);

    const one = await api(`/api/alerts/${alerts[0]!.alertId}`, { token: viewer });
    expect(one.body).toMatchObject({
      alert_id: alerts[0]!.alertId,
      host_id: host.hostId,
      event_detail: { i: 0 },
      rule_name: 'r0',
    });
    expect((await api(`/api/alerts/${randomUUID()}`, { token: viewer })).status).toBe(404);
  });

  it('names the bad parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/api/alerts?severity=LOUD', /severity: "LOUD" is not one of/],
      ['/api/alerts?from=yesterday', /from must be an ISO 8601 time/],
      // Before PostgreSQL's first timestamp (4713 BC): found by the fuzzer, once a 500.
      ['/api/alerts?from=-004713-11-23T23:59:59.999Z', /from must be a time in years 1 to 9999/],
      ['/api/audit?to=%2B275760-09-13T00:00:00.000Z', /to must be a time in years 1 to 9999/],
      ['/api/alerts?host_id=nope', /host_id must be a UUID/],
      ['/api/alerts?limit=0', /limit must be an integer from 1 to 1000/],
      ['/api/alerts?cursor=zzz', /cursor/],
    ];
    for (const [path, message] of cases) {
      const res = await api(path, { token: viewer });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'invalid_parameter',
        message: expect.stringMatching(message),
      });
    }
  });

  it('lists hosts with status, last seen, platform and agent version', async () => {
    const host = await newHost('hosts-api-01');
    const res = await api('/api/hosts', { token: viewer });
    expect(res.body.hosts).toContainEqual({
      host_id: host.hostId,
      hostname: 'hosts-api-01',
      status: 'offline',
      platform: 'linux',
      agent_version: '2.0',
      registered_at: expect.any(String),
      last_seen: null,
      status_version: 0,
      alerts_24h: 0,
    });
  });

  it('counts each host’s alerts of the last 24 hours', async () => {
    const host = await newHost();
    const now = Date.now();
    await insertAlerts(env.pool, [storedAlert(host.hostId), storedAlert(host.hostId)]);
    await insertAlerts(env.pool, [storedAlert(host.hostId)], new Date(now - 23 * 3600_000));
    await insertAlerts(env.pool, [storedAlert(host.hostId)], new Date(now - 25 * 3600_000));
    const res = await api('/api/hosts', { token: viewer });
    const listed = res.body.hosts.find((h: { host_id: string }) => h.host_id === host.hostId);
    expect(listed.alerts_24h).toBe(3);
  });

  it('gives alerts per minute by severity, every minute zero-filled, the current minute last', async () => {
    const host = await newHost();
    const other = await newHost();
    const minuteOf = (ms: number) => Math.floor(ms / 60_000) * 60_000;
    const tenAgo = new Date(minuteOf(Date.now()) - 10 * 60_000 + 5_000);
    await insertAlerts(
      env.pool,
      [
        storedAlert(host.hostId, 'CRITICAL'),
        storedAlert(host.hostId, 'CRITICAL'),
        storedAlert(host.hostId, 'INFO'),
        storedAlert(other.hostId, 'WARN'),
      ],
      tenAgo,
    );
    const before = minuteOf(Date.now());
    const res = await api('/api/stats/alerts-per-minute', { token: viewer });
    const after = minuteOf(Date.now());
    expect(res.status).toBe(200);
    const { from, to, buckets } = res.body;
    expect(buckets).toHaveLength(60);
    // Counted up to the moment of the request (the database's clock, on this machine ours).
    const countedUpTo = Date.parse(res.body.counted_up_to);
    expect(countedUpTo).toBeGreaterThan(Date.now() - 10_000);
    expect(countedUpTo).toBeLessThanOrEqual(Math.min(Date.now(), Date.parse(to)));
    expect(Date.parse(to) - Date.parse(from)).toBe(60 * 60_000);
    expect(buckets[0].minute).toBe(from);
    const last = Date.parse(buckets[59].minute);
    expect(last === before || last === after).toBe(true);
    expect(Date.parse(to)).toBe(last + 60_000);
    for (let i = 1; i < buckets.length; i++) {
      expect(Date.parse(buckets[i].minute) - Date.parse(buckets[i - 1].minute)).toBe(60_000);
    }
    const at = (body: { buckets: Array<{ minute: string }> }) =>
      body.buckets.find((b) => b.minute === new Date(minuteOf(tenAgo.getTime())).toISOString());
    expect(at(res.body)).toEqual({
      minute: new Date(minuteOf(tenAgo.getTime())).toISOString(),
      INFO: 1,
      WARN: 1,
      CRITICAL: 2,
    });

    const one = await api(`/api/stats/alerts-per-minute?minutes=15&host_id=${host.hostId}`, {
      token: viewer,
    });
    expect(one.body.buckets).toHaveLength(15);
    expect(at(one.body)).toMatchObject({ INFO: 1, WARN: 0, CRITICAL: 2 });
    const total = one.body.buckets.reduce(
      (n: number, b: { INFO: number; WARN: number; CRITICAL: number }) =>
        n + b.INFO + b.WARN + b.CRITICAL,
      0,
    );
    expect(total).toBe(3);

    // The same severity and type filters as /api/alerts, so a chart can follow the table's filter.
    const critical = await api('/api/stats/alerts-per-minute?minutes=15&severity=CRITICAL', {
      token: viewer,
    });
    expect(at(critical.body)).toMatchObject({ INFO: 0, WARN: 0, CRITICAL: 2 });
    const network = await api('/api/stats/alerts-per-minute?minutes=15&type=NETWORK', {
      token: viewer,
    });
    expect(at(network.body)).toMatchObject({ INFO: 0, WARN: 0, CRITICAL: 0 });
    const badType = await api('/api/stats/alerts-per-minute?type=DISK', { token: viewer });
    expect(badType.status).toBe(400);
    expect(badType.body.error.fields).toEqual({ type: 'unknown value' });

    const day = await api('/api/stats/alerts-per-minute?minutes=1440', { token: viewer });
    expect(day.body.buckets).toHaveLength(1440);
    expect(
      (await api('/api/stats/alerts-per-minute?minutes=1', { token: viewer })).body.buckets,
    ).toHaveLength(1);
    expect((await api('/api/stats/alerts-per-minute')).status).toBe(401);
  });

  it('refuses a bad minutes or host_id on the per-minute stats', async () => {
    const cases: Array<[string, string, string]> = [
      ['minutes=0', 'minutes', 'out of range'],
      ['minutes=1441', 'minutes', 'out of range'],
      ['minutes=-5', 'minutes', 'out of range'],
      ['minutes=abc', 'minutes', 'not an integer'],
      ['minutes=1.5', 'minutes', 'not an integer'],
      ['host_id=nope', 'host_id', 'not a UUID'],
    ];
    for (const [q, field, problem] of cases) {
      const res = await api(`/api/stats/alerts-per-minute?${q}`, { token: viewer });
      expect(res.status, q).toBe(400);
      expect(res.body.error, q).toMatchObject({
        code: 'invalid_parameter',
        message: expect.stringMatching(field === 'minutes' ? /from 1 to 1440/ : /UUID/),
        fields: { [field]: problem },
      });
    }
  });

  it('creates, edits and deletes rules for admins only; audits and publishes every change', async () => {
    const host = await newHost();
    const changes: BusEntry[] = [];
    const sub = new BusSubscriber({
      redis: createRedisClient(env.redisUrl),
      keyPrefix: env.keyPrefix,
      stream: 'control',
      from: 'latest',
      blockMs: 200,
      onEntries: (e) => changes.push(...e),
    });
    sub.start();
    // "latest" is fixed on the first read: every change made after this is delivered.
    await sub.caughtUp;

    const rule = {
      host_id: host.hostId,
      name: 'sshd',
      tripwire_type: 'FILE',
      severity: 'CRITICAL',
      target: '/etc/ssh/sshd_config',
    };
    const denied = await api('/api/rules', { token: viewer, method: 'POST', body: rule });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden_role');

    const created = await api('/api/rules', { token: admin, method: 'POST', body: rule });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...rule, enabled: true, config: {} });
    const id = created.body.rule_id;
    expect((await api('/api/rules', { token: admin, method: 'POST', body: rule })).status).toBe(
      409,
    );

    const updated = await api(`/api/rules/${id}`, {
      token: admin,
      method: 'PUT',
      body: { ...rule, severity: 'WARN', enabled: false },
    });
    expect(updated.body).toMatchObject({ severity: 'WARN', enabled: false });
    expect((await api(`/api/rules/${id}`, { token: viewer })).body).toMatchObject({
      severity: 'WARN',
    });
    expect((await api(`/api/rules/${id}`, { token: admin, method: 'DELETE' })).status).toBe(204);
    expect((await api(`/api/rules/${id}`, { token: viewer })).status).toBe(404);

    const audit = await api(`/api/audit?host_id=${host.hostId}`, { token: viewer });
    expect(
      audit.body.entries.map((e: { action: string; actor: string }) => [e.action, e.actor]),
    ).toEqual([
      ['rule.create', 'operator:ada'],
      ['rule.update', 'operator:ada'],
      ['rule.delete', 'operator:ada'],
    ]);
    await until(() => changes.filter((c) => c.message.type === 'rules').length === 3);
    expect(changes.filter((c) => c.message.type === 'rules').map((c) => c.message.data)).toEqual([
      { host_id: host.hostId, rule_id: id, change: 'created' },
      { host_id: host.hostId, rule_id: id, change: 'updated' },
      { host_id: host.hostId, rule_id: id, change: 'deleted' },
    ]);
    await sub.stop();
  });

  it('validates every rule field with errors that name it', async () => {
    const res = await api('/api/rules', {
      token: admin,
      method: 'POST',
      body: { host_id: 'x', name: '', tripwire_type: 'DISK', severity: 'LOUD' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(Object.keys(res.body.error.fields).sort()).toEqual([
      'host_id',
      'name',
      'severity',
      'target',
      'tripwire_type',
    ]);
    const unknownHost = await api('/api/rules', {
      token: admin,
      method: 'POST',
      body: { host_id: randomUUID(), name: 'n', tripwire_type: 'FILE', target: '/x' },
    });
    expect(unknownHost.body.error.fields).toEqual({ host_id: 'unknown host' });
    const notJson = await api('/api/rules', { token: admin, method: 'POST', body: '{oops' });
    expect(notJson.body.error.code).toBe('invalid_json');
  });

  it('verifies the audit chain and reports where a tampered row breaks it', async () => {
    expect((await api('/api/audit/verify', { token: admin })).body).toMatchObject({
      ok: true,
      broken_at: null,
    });
    const { rows } = await env.pool.query('SELECT max(seq) AS seq FROM audit_entries');
    const client = await env.pool.connect();
    try {
      await client.query('ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only');
      await client.query("UPDATE audit_entries SET actor = 'operator:mallory' WHERE seq = $1", [
        rows[0].seq,
      ]);
      await client.query('ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only');
    } finally {
      client.release();
    }
    const res = await api('/api/audit/verify', { token: admin });
    expect(res.body).toMatchObject({
      ok: false,
      broken_at: rows[0].seq,
      reason: expect.stringMatching(/modified/),
    });
  });

  it('signs in with an HttpOnly cookie that then authenticates, and signs out', async () => {
    // A browser sends its Origin on every POST and DELETE; signing in and out require it.
    const origin = { origin: fanout.url };
    const res = await api('/api/session', {
      method: 'POST',
      body: { token: admin },
      headers: origin,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'ada', role: 'admin' });
    const cookie = res.headers.get('set-cookie')!;
    // The cookie holds a session id, never the token.
    expect(cookie).toMatch(
      /^tw_session=tws_[\w-]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200/,
    );
    expect(cookie).not.toContain(admin);
    const me = await api('/api/session', { headers: { cookie: cookie.split(';')[0]! } });
    expect(me.body).toMatchObject({ name: 'ada', role: 'admin', expires_at: expect.any(String) });
    const bad = await api('/api/session', {
      method: 'POST',
      body: { token: 'bad' },
      headers: origin,
    });
    expect(bad.status).toBe(401);
    const out = await api('/api/session', { method: 'DELETE', headers: origin });
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
  });
});
