import { randomUUID } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { type AgentEvent, type ServerCommand, Severity, TripwireType } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  ENROLLMENT_TOKEN,
  passMarker,
  type RunningFanout,
  startFanout,
  startIngest,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let ingest: Awaited<ReturnType<typeof startIngest>>;

beforeAll(async () => {
  ingest = await startIngest(env);
  fanout = await startFanout(env);
});
afterAll(async () => {
  await fanout?.stop();
  await ingest?.stop();
});

const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

const activeInIngest = async () =>
  (await ingest.server.metrics.suppressionsActive.get()).values[0]?.value ?? 0;

async function agent() {
  const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
    ingest.client.registerAgent(
      { hostname: `mute-${randomUUID().slice(0, 8)}`, platform: 'linux', agentVersion: '1.0' },
      bearer(ENROLLMENT_TOKEN),
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  const acked = new Set<string>();
  const stream = ingest.client.streamAlertBatches(bearer(reg.agentToken));
  stream.on('data', (c: ServerCommand) => {
    if (c.command?.$case === 'ack') for (const id of c.command.ack.alertIds) acked.add(id);
  });
  stream.on('error', () => {});
  const event = (ruleName: string, detail: unknown): AgentEvent => ({
    alertId: randomUUID(),
    hostId: reg.hostId,
    tripwireType: TripwireType.FILE,
    severity: Severity.WARN,
    timestampUs: Date.now() * 1000,
    ruleName,
    eventDetailJson: JSON.stringify(detail),
  });
  return { ...reg, stream, acked, event };
}

describe('suppressions end to end', () => {
  it('an agent sends a muted alert: stored, acked, flagged, no incident, only include_suppressed sockets get it, hit counted', async () => {
    const a = await agent();
    const viewer = await auth.issue('vic', 'viewer');
    const responder = await auth.issue('rita', 'responder');
    const plain = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: a.hostId } });
    const curious = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { host_id: a.hostId, include_suppressed: 'true' },
    });
    await Promise.all([plain.opened, curious.opened]);
    await until(() => plain.ofType('welcome').length + curious.ofType('welcome').length === 2);

    const body = {
      host_id: a.hostId,
      rule_name: 'cron-spool',
      detail: [{ path: ['file', 'path'], op: 'prefix', value: '/var/spool/cron/' }],
      justification: 'backup job rewrites its crontab nightly (CHG-1234)',
    };
    const before = await activeInIngest();
    expect(
      (await callApi(fanout.url, '/api/suppressions', { token: viewer, method: 'POST', body }))
        .status,
    ).toBe(403);
    const created = await callApi(fanout.url, '/api/suppressions', {
      token: responder,
      method: 'POST',
      body,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      ...body,
      created_by: 'operator:rita',
      active: true,
      hit_count: 0,
    });
    const id = created.body.suppression_id as string;
    await until(async () => (await activeInIngest()) === before + 1, 5_000, 'ingest to reload');

    const muted = a.event('cron-spool', { file: { path: '/var/spool/cron/root' } });
    const loud = a.event('cron-spool', { file: { path: '/etc/crontab' } });
    a.stream.write({ events: [muted, loud] });
    await until(() => a.acked.has(muted.alertId) && a.acked.has(loud.alertId), 10_000, 'acks');

    await until(() => curious.alertIds().length === 2, 10_000, 'both alerts on the curious socket');
    expect(curious.alerts().find((f) => f.data.alert_id === muted.alertId)!.data).toMatchObject({
      suppression_id: id,
    });
    // Past a later marker on the same host, the muted alert can no longer reach the plain socket.
    const marker = await passMarker(env, plain, { host_id: a.hostId });
    expect(plain.alertIds()).toEqual([loud.alertId, marker]);

    const listed = (q: string) =>
      callApi(fanout.url, `/api/alerts?host_id=${a.hostId}${q}`, { token: viewer });
    expect((await listed('')).body.alerts.map((x: { alert_id: string }) => x.alert_id)).toEqual([
      loud.alertId,
    ]);
    const only = (await listed('&suppressed=only')).body.alerts;
    expect(only).toMatchObject([{ alert_id: muted.alertId, suppression_id: id }]);
    expect((await listed('&suppressed=maybe')).status).toBe(400);

    const incidents = await callApi(fanout.url, `/api/incidents?host_id=${a.hostId}`, {
      token: viewer,
    });
    expect(incidents.body.incidents.map((i: { alert_count: number }) => i.alert_count)).toEqual([
      1,
    ]);
    const shown = await callApi(fanout.url, `/api/suppressions/${id}`, { token: viewer });
    expect(shown.body).toMatchObject({ hit_count: 1, active: true });
    expect(shown.body.last_hit_at).not.toBeNull();
    a.stream.end();
    plain.close();
    curious.close();
  });

  it('prefills "mute alerts like this", edits, expires early; refuses what it must bound; audits every change', async () => {
    const a = await agent();
    const responder = await auth.issue('rita', 'responder');
    const alert = a.event('ssh-keys', { path: '/root/.ssh/authorized_keys', sha256: 'ab12' });
    a.stream.write({ events: [alert] });
    await until(() => a.acked.has(alert.alertId), 10_000, 'the ack');
    const draft = await callApi(fanout.url, `/api/suppressions/draft?alert_id=${alert.alertId}`, {
      token: responder,
    });
    expect(draft.status).toBe(200);
    expect(draft.body).toEqual({
      host_id: a.hostId,
      rule_name: 'ssh-keys',
      tripwire_type: 'FILE',
      severity: null,
      detail: [{ path: ['path'], op: 'equals', value: '/root/.ssh/authorized_keys' }],
      justification: '',
      expires_at: null,
    });
    const post = (body: unknown) =>
      callApi(fanout.url, '/api/suppressions', { token: responder, method: 'POST', body });
    expect((await post(draft.body)).body.error.fields).toHaveProperty('justification');
    const deep = {
      ...draft.body,
      justification: 'x',
      detail: [{ path: Array(9).fill('k'), op: 'equals', value: 'v' }],
    };
    expect((await post(deep)).status).toBe(400);
    const long = {
      ...draft.body,
      justification: 'x',
      detail: [{ path: ['p'], op: 'equals', value: 'v'.repeat(1025) }],
    };
    expect((await post(long)).status).toBe(400);
    const past = { ...draft.body, justification: 'x', expires_at: '2001-01-01T00:00:00Z' };
    expect((await post(past)).status).toBe(400);

    const created = await post({ ...draft.body, justification: 'vendor rotates keys' });
    const id = created.body.suppression_id as string;
    const edited = await callApi(fanout.url, `/api/suppressions/${id}`, {
      token: responder,
      method: 'PUT',
      body: { ...draft.body, justification: 'vendor rotates keys weekly', severity: 'INFO' },
    });
    expect(edited.body).toMatchObject({
      severity: 'INFO',
      justification: 'vendor rotates keys weekly',
    });
    const expired = await callApi(fanout.url, `/api/suppressions/${id}/expire`, {
      token: responder,
      method: 'POST',
    });
    expect(expired.body.active).toBe(false);
    const active = await callApi(fanout.url, '/api/suppressions?active=true', { token: responder });
    expect(
      active.body.suppressions.map((s: { suppression_id: string }) => s.suppression_id),
    ).not.toContain(id);
    const { rows } = await env.pool.query(
      'SELECT action, actor FROM audit_entries WHERE target = $1 ORDER BY seq',
      [id],
    );
    expect(rows).toEqual([
      { action: 'suppression.create', actor: 'operator:rita' },
      { action: 'suppression.update', actor: 'operator:rita' },
      { action: 'suppression.expire', actor: 'operator:rita' },
    ]);
    a.stream.end();
  });
});
