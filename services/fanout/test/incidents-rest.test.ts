import { randomBytes, randomUUID } from 'node:crypto';
import { type BusEntry, type BusStream, BusSubscriber, createRedisClient } from '@tripwire/bus';
import { insertAlerts, type NewAlert, upsertHost } from '@tripwire/storage';
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
  admin = await auth.issue('alice', 'admin');
});
afterAll(async () => {
  await fanout?.stop();
});

const api = (path: string, options: { token?: string; method?: string; body?: unknown } = {}) =>
  callApi(fanout.url, path, { token: admin, ...options });

const newHost = () =>
  upsertHost(env.pool, {
    hostname: `host-${randomUUID().slice(0, 8)}`,
    platform: 'linux',
    agentVersion: '2.0',
    agentTokenHash: randomBytes(32),
  });

const alertOf = (hostId: string, over: Partial<NewAlert> = {}): NewAlert => ({
  alertId: randomUUID(),
  hostId,
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'FILE',
  severity: 'INFO',
  ruleName: 'etc-passwd-watch',
  eventDetailJson: '{"path":"/etc/passwd"}',
  ...over,
});

/** An incident opened by correlation, as ingest does: its alerts stored in one flush. */
async function stormIncident(alerts: NewAlert[]) {
  const outcome = await insertAlerts(env.pool, alerts);
  return outcome.incidents[0]!.incidentId;
}

/** An incident opened by an operator over REST. */
async function openIncident(body: Record<string, unknown> = {}) {
  const host = await newHost();
  const res = await api('/api/incidents', {
    method: 'POST',
    body: { host_id: host.hostId, tripwire_type: 'PROCESS', severity: 'WARN', ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.incident as { incident_id: string; version: number; host_id: string };
}

const auditOf = async (incidentId: string) =>
  ((await api('/api/audit?limit=5000')).body.entries as Array<Record<string, unknown>>).filter(
    (e) => e.target === incidentId,
  );

/** Everything appended to one bus stream from now on. */
function follow(stream: BusStream) {
  const entries: BusEntry[] = [];
  const subscriber = new BusSubscriber({
    redis: createRedisClient(env.redisUrl),
    keyPrefix: env.keyPrefix,
    stream,
    from: 'latest',
    blockMs: 100,
    onEntries: (batch) => entries.push(...batch),
  });
  subscriber.start();
  return { entries, stop: () => subscriber.stop(), started: subscriber.caughtUp };
}

describe('GET /api/incidents', () => {
  it('lists incidents highest severity first, filtered by state, severity and host, with a total', async () => {
    const host = await newHost();
    const critical = await stormIncident([
      alertOf(host.hostId, { tripwireType: 'NETWORK', severity: 'CRITICAL' }),
    ]);
    const info = await stormIncident([alertOf(host.hostId, { tripwireType: 'FILE' })]);
    const warn = await stormIncident([
      alertOf(host.hostId, { tripwireType: 'PROCESS', severity: 'WARN' }),
    ]);
    await api(`/api/incidents/${warn}`, { method: 'PATCH', body: { state: 'ACKNOWLEDGED' } });

    const all = await api(`/api/incidents?host_id=${host.hostId}`, { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ total: 3, limit: 50, offset: 0 });
    expect(all.body.incidents.map((i: { incident_id: string }) => i.incident_id)).toEqual([
      critical,
      warn,
      info,
    ]);
    expect(all.body.incidents[0]).toMatchObject({
      host_id: host.hostId,
      hostname: host.hostname,
      tripwire_type: 'NETWORK',
      state: 'OPEN',
      max_severity: 'CRITICAL',
      alert_count: 1,
      created_by: 'ingest',
      version: expect.any(Number),
      revision: expect.any(Number),
    });

    const open = await api(`/api/incidents?host_id=${host.hostId}&state=open`);
    expect(open.body.total).toBe(2);
    expect(open.body.incidents.map((i: { state: string }) => i.state)).toEqual(['OPEN', 'OPEN']);
    const severe = await api(`/api/incidents?host_id=${host.hostId}&severity=WARN,CRITICAL`);
    expect(severe.body.incidents.map((i: { incident_id: string }) => i.incident_id)).toEqual([
      critical,
      warn,
    ]);
    const acked = await api(
      `/api/incidents?host_id=${host.hostId}&state=ACKNOWLEDGED&severity=INFO`,
    );
    expect(acked.body).toMatchObject({ incidents: [], total: 0 });

    const page2 = await api(`/api/incidents?host_id=${host.hostId}&limit=1&offset=1`);
    expect(page2.body).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(page2.body.incidents.map((i: { incident_id: string }) => i.incident_id)).toEqual([warn]);
  });

  it('refuses bad query parameters by name', async () => {
    for (const [query, field] of [
      ['state=CLOSED', 'state'],
      ['severity=LOUD', 'severity'],
      ['host_id=web-01', 'host_id'],
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['offset=-1', 'offset'],
    ] as const) {
      const res = await api(`/api/incidents?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('invalid_parameter');
      expect(res.body.error.fields, query).toHaveProperty(field);
    }
  });
});

describe('GET /api/incidents/:id and its alerts', () => {
  it('returns one incident, and 404 incident_not_found for an unknown or malformed id', async () => {
    const created = await openIncident();
    const res = await api(`/api/incidents/${created.incident_id}`, { token: viewer });
    expect(res.status).toBe(200);
    expect(res.body.incident).toEqual(created);
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const missing = await api(`/api/incidents/${id}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('incident_not_found');
      const alerts = await api(`/api/incidents/${id}/alerts`);
      expect(alerts.status).toBe(404);
      expect(alerts.body.error.code).toBe('incident_not_found');
    }
  });

  it('lists the alerts of an incident newest first, as /api/alerts shows them, filtered by severity', async () => {
    const host = await newHost();
    const now = Date.now() * 1000;
    const storm = Array.from({ length: 30 }, (_, i) =>
      alertOf(host.hostId, {
        occurredAtUs: now + i,
        severity: i === 17 ? 'CRITICAL' : 'INFO',
      }),
    );
    const id = await stormIncident(storm);
    const all = await api(`/api/incidents/${id}/alerts?limit=10`, { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(30);
    expect(all.body.alerts).toHaveLength(10);
    const received = all.body.alerts.map((a: { received_at: string }) => a.received_at);
    expect([...received].sort().reverse()).toEqual(received);

    const critical = await api(`/api/incidents/${id}/alerts?severity=critical`);
    expect(critical.body.total).toBe(1);
    const fromAlertsApi = await api(`/api/alerts/${storm[17]!.alertId}`);
    expect(critical.body.alerts).toEqual([fromAlertsApi.body]);
    expect(critical.body.alerts[0]).toMatchObject({
      alert_id: storm[17]!.alertId,
      severity: 'CRITICAL',
      event_detail: { path: '/etc/passwd' },
    });

    const page = await api(`/api/incidents/${id}/alerts?limit=5&offset=28`);
    expect(page.body).toMatchObject({ total: 30 });
    expect(page.body.alerts).toHaveLength(2);
    const bad = await api(`/api/incidents/${id}/alerts?limit=1001`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({
      code: 'invalid_parameter',
      fields: { limit: 'out of range' },
    });
  });
});

describe('POST /api/incidents', () => {
  it('opens an incident as the operator (201), publishes it on both bus streams, and audits it', async () => {
    const events = follow('events');
    const control = follow('control');
    await Promise.all([events.started, control.started]);
    try {
      const host = await newHost();
      const res = await api('/api/incidents', {
        method: 'POST',
        body: {
          host_id: host.hostId,
          tripwire_type: 'NETWORK',
          severity: 'CRITICAL',
          rule_name: 'outbound-4444',
          assignee: 'bob',
          note: 'reverse shell?',
        },
      });
      expect(res.status).toBe(201);
      const incident = res.body.incident;
      expect(incident).toMatchObject({
        host_id: host.hostId,
        hostname: host.hostname,
        rule_name: 'outbound-4444',
        tripwire_type: 'NETWORK',
        state: 'OPEN',
        max_severity: 'CRITICAL',
        alert_count: 0,
        assignee: 'bob',
        notes: [{ author: 'operator:alice', at: expect.any(String), text: 'reverse shell?' }],
        created_by: 'operator:alice',
        version: 1,
        revision: 1,
      });
      for (const stream of [events, control]) {
        await until(() => stream.entries.some((e) => e.message.type === 'incident'));
        const messages = stream.entries.filter((e) => e.message.type === 'incident');
        expect(messages.map((e) => e.message)).toEqual([
          { type: 'incident', data: { event: 'created', incident } },
        ]);
      }
      const audit = await auditOf(incident.incident_id);
      expect(audit).toMatchObject([{ actor: 'operator:alice', action: 'incident.create' }]);
    } finally {
      await Promise.all([events.stop(), control.stop()]);
    }
  });

  it('refuses a bad body with every bad field named (400 validation_failed)', async () => {
    const res = await api('/api/incidents', {
      method: 'POST',
      body: { host_id: 'web-01', tripwire_type: 'DISK', note: '', colour: 'red' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(Object.keys(res.body.error.fields).sort()).toEqual([
      'colour',
      'host_id',
      'note',
      'severity',
      'tripwire_type',
    ]);
    expect(res.body.error.message).toContain('tripwire_type must be one of FILE, NETWORK, PROCESS');

    const unknownHost = await api('/api/incidents', {
      method: 'POST',
      body: { host_id: randomUUID(), tripwire_type: 'FILE', severity: 'INFO' },
    });
    expect(unknownHost.status).toBe(400);
    expect(unknownHost.body.error).toMatchObject({
      code: 'validation_failed',
      fields: { host_id: 'names no registered host' },
    });
  });

  it('refuses malformed JSON and a body that is not an object (400)', async () => {
    const malformed = await api('/api/incidents', { method: 'POST', body: '{"host_id":' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    const list = await api('/api/incidents', { method: 'POST', body: [1, 2] });
    expect(list.status).toBe(400);
    expect(list.body.error).toMatchObject({
      code: 'validation_failed',
      fields: { body: expect.any(String) },
    });
    const before = await clientErrors('invalid_json');
    await api(`/api/incidents/${randomUUID()}`, { method: 'PATCH', body: 'nope' });
    expect(await clientErrors('invalid_json')).toBe(before + 1);
  });
});

async function clientErrors(code: string) {
  const text = await (await fetch(fanout.metricsUrl)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`tripwire_fanout_client_errors_total{code="${code}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('PATCH /api/incidents/:id', () => {
  it('acknowledges, assigns, unassigns and annotates, auditing each change with the actor', async () => {
    const { incident_id: id } = await openIncident();
    const ack = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { state: 'ACKNOWLEDGED', assignee: 'alice', expected_version: 1 },
    });
    expect(ack.status).toBe(200);
    expect(ack.body.incident).toMatchObject({
      state: 'ACKNOWLEDGED',
      assignee: 'alice',
      version: 2,
    });

    const noted = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { note: 'it was the backup job' },
    });
    expect(noted.body.incident.notes).toEqual([
      { author: 'operator:alice', at: expect.any(String), text: 'it was the backup job' },
    ]);
    const unassigned = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { assignee: null },
    });
    expect(unassigned.body.incident).toMatchObject({ assignee: null, version: 4 });
    const undo = await api(`/api/incidents/${id}`, { method: 'PATCH', body: { state: 'OPEN' } });
    expect(undo.body.incident).toMatchObject({ state: 'OPEN', version: 5 });

    expect((await api(`/api/incidents/${id}`)).body.incident).toEqual(undo.body.incident);
    const audit = await auditOf(id);
    expect(audit.map((e) => [e.actor, e.action])).toEqual([
      ['operator:alice', 'incident.create'],
      ['operator:alice', 'incident.transition'],
      ['operator:alice', 'incident.update'],
      ['operator:alice', 'incident.update'],
      ['operator:alice', 'incident.transition'],
    ]);
    expect(audit[1]!.details).toMatchObject({ from: 'OPEN', to: 'ACKNOWLEDGED' });
  });

  it('refuses an empty change and resolution fields without a final state (400, by field)', async () => {
    const { incident_id: id } = await openIncident();
    const empty = await api(`/api/incidents/${id}`, { method: 'PATCH', body: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({
      code: 'validation_failed',
      fields: { body: expect.stringContaining('nothing to change') },
    });
    const stray = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { state: 'ACKNOWLEDGED', root_cause: 'x' },
    });
    expect(stray.status).toBe(400);
    expect(stray.body.error.fields).toEqual({
      root_cause: 'is given only with state RESOLVED or FALSE_POSITIVE',
    });
    const badVersion = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { note: 'x', expected_version: 'one' },
    });
    expect(badVersion.status).toBe(400);
    expect(badVersion.body.error.fields).toEqual({ expected_version: 'must be a number' });
    const final = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { state: 'RESOLVED' },
    });
    expect(final.status).toBe(400);
    expect(Object.keys(final.body.error.fields).sort()).toEqual([
      'resolution_method',
      'root_cause',
    ]);
    expect((await api(`/api/incidents/${id}`)).body.incident.version).toBe(1);
  });

  it('refuses a change made on a stale copy: 409 version_conflict with the current version', async () => {
    const { incident_id: id } = await openIncident();
    await api(`/api/incidents/${id}`, { method: 'PATCH', body: { assignee: 'bob' } });
    const stale = await api(`/api/incidents/${id}`, {
      method: 'PATCH',
      body: { state: 'ACKNOWLEDGED', expected_version: 1 },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'version_conflict', current_version: 2 });
    expect(stale.body.error.message).toContain('version 2');
    const staleResolve = await api(`/api/incidents/${id}/resolve`, {
      method: 'POST',
      body: { resolution_method: 'MANUAL', root_cause: 'x', expected_version: 1 },
    });
    expect(staleResolve.status).toBe(409);
    expect(staleResolve.body.error.code).toBe('version_conflict');
    expect((await api(`/api/incidents/${id}`)).body.incident).toMatchObject({
      state: 'OPEN',
      version: 2,
    });
  });
});

describe('POST /api/incidents/:id/resolve', () => {
  it('resolves with a method and root cause, audited, published as resolved', async () => {
    const { incident_id: id } = await openIncident();
    const events = follow('events');
    await events.started;
    try {
      const res = await api(`/api/incidents/${id}/resolve`, {
        method: 'POST',
        body: { resolution_method: 'PLAYBOOK', root_cause: 'patched sudoers', note: 'done' },
      });
      expect(res.status).toBe(200);
      expect(res.body.incident).toMatchObject({
        state: 'RESOLVED',
        resolution_method: 'PLAYBOOK',
        root_cause: 'patched sudoers',
        resolved_at: expect.any(String),
        notes: [{ author: 'operator:alice', text: 'done' }],
      });
      await until(() => events.entries.some((e) => e.message.type === 'incident'));
      expect(events.entries.map((e) => e.message)).toEqual([
        { type: 'incident', data: { event: 'resolved', incident: res.body.incident } },
      ]);
    } finally {
      await events.stop();
    }
    const audit = await auditOf(id);
    expect(audit.at(-1)).toMatchObject({
      actor: 'operator:alice',
      action: 'incident.transition',
      details: { from: 'OPEN', to: 'RESOLVED' },
    });
  });

  it('marks a false positive, and PATCH can resolve too', async () => {
    const fp = await openIncident();
    const res = await api(`/api/incidents/${fp.incident_id}/resolve`, {
      method: 'POST',
      body: { state: 'FALSE_POSITIVE', resolution_method: 'MANUAL', root_cause: 'admin at work' },
    });
    expect(res.body.incident).toMatchObject({
      state: 'FALSE_POSITIVE',
      root_cause: 'admin at work',
    });
    const other = await openIncident();
    const patched = await api(`/api/incidents/${other.incident_id}`, {
      method: 'PATCH',
      body: { state: 'RESOLVED', resolution_method: 'AUTOMATED', root_cause: 'self-healed' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.incident).toMatchObject({
      state: 'RESOLVED',
      resolution_method: 'AUTOMATED',
    });
  });

  it('needs a resolution method and root cause, and only RESOLVED or FALSE_POSITIVE', async () => {
    const { incident_id: id } = await openIncident();
    const res = await api(`/api/incidents/${id}/resolve`, {
      method: 'POST',
      body: { state: 'ACKNOWLEDGED', root_cause: '  ' },
    });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.error.fields).sort()).toEqual([
      'resolution_method',
      'root_cause',
      'state',
    ]);
    expect(res.body.error.fields.state).toBe('must be one of RESOLVED, FALSE_POSITIVE');
  });
});

describe('the lifecycle over REST', () => {
  const allowed: Record<string, string[]> = {
    OPEN: ['ACKNOWLEDGED', 'RESOLVED', 'FALSE_POSITIVE'],
    ACKNOWLEDGED: ['OPEN', 'RESOLVED', 'FALSE_POSITIVE'],
    RESOLVED: [],
    FALSE_POSITIVE: [],
  };
  const states = Object.keys(allowed);
  const resolution = { resolution_method: 'MANUAL', root_cause: 'test' };

  async function incidentIn(state: string) {
    const { incident_id: id } = await openIncident();
    if (state === 'ACKNOWLEDGED' || state === 'OPEN') {
      if (state === 'ACKNOWLEDGED')
        await api(`/api/incidents/${id}`, { method: 'PATCH', body: { state } });
    } else {
      await api(`/api/incidents/${id}/resolve`, { method: 'POST', body: { state, ...resolution } });
    }
    expect((await api(`/api/incidents/${id}`)).body.incident.state).toBe(state);
    return id;
  }

  for (const from of states) {
    const refused = states.filter((to) => !allowed[from]!.includes(to));
    it(`refuses ${from} → ${refused.join(', ')} with 409 invalid_transition naming the allowed states`, async () => {
      const id = await incidentIn(from);
      for (const to of refused) {
        const final = to === 'RESOLVED' || to === 'FALSE_POSITIVE';
        const res = await api(`/api/incidents/${id}`, {
          method: 'PATCH',
          body: { state: to, ...(final ? resolution : {}) },
        });
        expect(res.status, `${from} → ${to}`).toBe(409);
        expect(res.body.error).toMatchObject({
          code: 'invalid_transition',
          from,
          to,
          allowed: allowed[from],
        });
        expect(res.body.error.message).toContain(
          allowed[from]!.length ? `it can go to ${allowed[from]!.join(', ')}` : `${from} is final`,
        );
      }
      const after = (await api(`/api/incidents/${id}`)).body.incident;
      expect(after.state).toBe(from);
    });
  }
});

describe('who may change incidents', () => {
  it('refuses every change by a viewer with 403 forbidden, and changes nothing', async () => {
    const { incident_id: id, host_id } = await openIncident();
    const attempts = [
      api('/api/incidents', {
        token: viewer,
        method: 'POST',
        body: { host_id, tripwire_type: 'FILE', severity: 'INFO' },
      }),
      api(`/api/incidents/${id}`, { token: viewer, method: 'PATCH', body: { note: 'hi' } }),
      api(`/api/incidents/${id}/resolve`, {
        token: viewer,
        method: 'POST',
        body: { resolution_method: 'MANUAL', root_cause: 'x' },
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden_role');
    }
    expect((await api(`/api/incidents/${id}`)).body.incident).toMatchObject({
      version: 1,
      notes: [],
      state: 'OPEN',
    });
    const list = await api(`/api/incidents?host_id=${host_id}`);
    expect(list.body.total).toBe(1);
    const unauthenticated = await callApi(fanout.url, `/api/incidents/${id}`);
    expect(unauthenticated.status).toBe(401);
  });
});
