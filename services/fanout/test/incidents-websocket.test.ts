import { randomBytes, randomUUID } from 'node:crypto';
import type { BusMessage, IncidentEventData } from '@tripwire/bus';
import {
  getIncident,
  type Incident,
  incidentMessage,
  insertAlerts,
  type NewAlert,
  upsertHost,
} from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  passMarker,
  publishMessages,
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

type IncidentFrame = { type: 'incident'; position: string; data: IncidentEventData };
const incidentsOf = (b: Browser) => b.ofType('incident') as unknown as IncidentFrame[];
const eventsOf = (b: Browser) =>
  incidentsOf(b).map((f) => [f.data.event, f.data.incident.incident_id]);

const api = (path: string, method = 'GET', body?: unknown) =>
  callApi(fanout.url, path, { token: admin, method, body });

const newHost = () =>
  upsertHost(env.pool, {
    hostname: `host-${randomUUID().slice(0, 8)}`,
    platform: 'linux',
    agentVersion: '2.0',
    agentTokenHash: randomBytes(32),
  });

/** A browser connected and greeted (its subscriptions are in place). */
async function connect(query: Record<string, string> = {}) {
  const b = new Browser(fanout.wsUrl, { token: viewer, query });
  await b.opened;
  await until(() => b.ofType('welcome').length === 1);
  return b;
}

async function openIncident(hostId: string, severity = 'WARN', tripwireType = 'FILE') {
  const res = await api('/api/incidents', 'POST', {
    host_id: hostId,
    tripwire_type: tripwireType,
    severity,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.incident as { incident_id: string; revision: number };
}

/** What the ingest service does after a flush: store the alerts, publish each touched incident. */
async function ingestFlush(alerts: NewAlert[]): Promise<Incident[]> {
  const outcome = await insertAlerts(env.pool, alerts);
  const touched: Incident[] = [];
  for (const t of outcome.incidents) {
    const incident = (await getIncident(env.pool, t.incidentId))!;
    touched.push(incident);
    publishMessages(env, [incidentMessage(incident, t.opened)]);
  }
  await env.publisher.drain();
  return touched;
}

const alertOf = (hostId: string, over: Partial<NewAlert> = {}): NewAlert => ({
  alertId: randomUUID(),
  hostId,
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'FILE',
  severity: 'INFO',
  ruleName: 'etc-shadow-watch',
  eventDetailJson: null,
  ...over,
});

describe('incident frames on /ws/alerts', () => {
  it('delivers every REST change as created, updated and resolved frames carrying the incident', async () => {
    const host = await newHost();
    const b = await connect();
    const created = await openIncident(host.hostId);
    const id = created.incident_id;
    const acked = await api(`/api/incidents/${id}`, 'PATCH', { state: 'ACKNOWLEDGED' });
    const resolved = await api(`/api/incidents/${id}/resolve`, 'POST', {
      resolution_method: 'MANUAL',
      root_cause: 'scheduled maintenance',
    });
    await until(() => incidentsOf(b).length >= 3, 5_000, 'three incident frames');
    await passMarker(env, b);

    const frames = incidentsOf(b);
    // Published on events and control, but the fan-out follows events only: one frame per change.
    expect(frames.map((f) => f.data)).toEqual([
      { event: 'created', incident: created },
      { event: 'updated', incident: acked.body.incident },
      { event: 'resolved', incident: resolved.body.incident },
    ]);
    expect(frames.map((f) => Object.keys(f))).toEqual(
      frames.map(() => ['type', 'position', 'data']),
    );
    const positions = frames.map((f) => f.position);
    expect(new Set(positions).size).toBe(3);
    b.close();
  });

  it('applies filters to the incident host, type and highest severity, once per socket however subscriptions overlap', async () => {
    const [hostA, hostB] = [await newHost(), await newHost()];
    const onlyA = await connect({ host_id: hostA.hostId });
    const critical = await connect({ severity: 'CRITICAL' });
    const network = await connect({ type: 'NETWORK' });
    const overlapping = await connect({ host_id: hostA.hostId });
    overlapping.send({
      type: 'subscribe',
      subscription_id: 'warn',
      filters: { severities: ['WARN'] },
    });
    await until(() => overlapping.ofType('subscribed').length === 1);

    const warnA = await openIncident(hostA.hostId, 'WARN');
    const critB = await openIncident(hostB.hostId, 'CRITICAL', 'NETWORK');
    // The last one matches every browser: once it is there, nothing else is on its way.
    const last = await openIncident(hostA.hostId, 'CRITICAL', 'NETWORK');
    for (const b of [onlyA, critical, network, overlapping]) {
      await until(
        () => incidentsOf(b).some((f) => f.data.incident.incident_id === last.incident_id),
        5_000,
        'the last incident',
      );
    }
    expect(eventsOf(onlyA)).toEqual([
      ['created', warnA.incident_id],
      ['created', last.incident_id],
    ]);
    expect(eventsOf(critical)).toEqual([
      ['created', critB.incident_id],
      ['created', last.incident_id],
    ]);
    expect(eventsOf(network)).toEqual([
      ['created', critB.incident_id],
      ['created', last.incident_id],
    ]);
    // warnA matches both of its subscriptions (host A, WARN): one frame.
    expect(eventsOf(overlapping)).toEqual([
      ['created', warnA.incident_id],
      ['created', last.incident_id],
    ]);
    for (const b of [onlyA, critical, network, overlapping]) b.close();
  });

  it('shows an incident escalating into a CRITICAL-only filter first as updated (ingest flush messages)', async () => {
    const host = await newHost();
    const critical = await connect({ severity: 'CRITICAL' });
    const everything = await connect({ host_id: host.hostId });
    const [opened] = await ingestFlush([alertOf(host.hostId), alertOf(host.hostId)]);
    const [escalated] = await ingestFlush([alertOf(host.hostId, { severity: 'CRITICAL' })]);
    expect(escalated!.incidentId).toBe(opened!.incidentId);
    await until(() => incidentsOf(everything).length === 2, 5_000, 'both flushes');
    await until(() => incidentsOf(critical).length === 1, 5_000, 'the escalation');

    expect(incidentsOf(everything).map((f) => f.data)).toEqual([
      incidentMessage(opened!, true).data,
      incidentMessage(escalated!, false).data,
    ]);
    expect(incidentsOf(everything)[0]!.data.incident).toMatchObject({
      alert_count: 2,
      max_severity: 'INFO',
      created_by: 'ingest',
      revision: opened!.version + 2,
    });
    expect(incidentsOf(critical).map((f) => f.data)).toEqual([
      {
        event: 'updated',
        incident: expect.objectContaining({ max_severity: 'CRITICAL', alert_count: 3 }),
      },
    ]);
    critical.close();
    everything.close();
  });

  it('sends the same change (incident id and revision) once, however often it is published', async () => {
    const host = await newHost();
    const b = await connect({ host_id: host.hostId });
    const [incident] = await ingestFlush([alertOf(host.hostId)]);
    const again = incidentMessage(incident!, true);
    publishMessages(env, [again]);
    publishMessages(env, [again, again]);
    // A newer revision of the same incident is a different change and does get through.
    const [grown] = await ingestFlush([alertOf(host.hostId)]);
    await until(() => incidentsOf(b).length >= 2, 5_000, 'the newer revision');
    await passMarker(env, b, { host_id: host.hostId });
    expect(incidentsOf(b).map((f) => [f.data.event, f.data.incident.revision])).toEqual([
      ['created', incident!.version + 1],
      ['updated', grown!.version + 2],
    ]);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_duplicates_skipped_total [3-9]/);
    b.close();
  });
});

describe('resuming with incident frames', () => {
  it('replays the incident frames a browser missed, once, with its filter, then continues live', async () => {
    const [mine, other] = [await newHost(), await newHost()];
    const witness = await connect();
    const first = await connect({ host_id: mine.hostId });
    const { incident_id: id } = await openIncident(mine.hostId);
    await until(() => incidentsOf(first).length === 1);
    const lastSeen = incidentsOf(first)[0]!.position;
    first.ws.terminate();
    await first.closed;

    // Missed while away: two changes of its incident, and one of another host's (filtered out).
    const assigned = await api(`/api/incidents/${id}`, 'PATCH', { assignee: 'bob' });
    await openIncident(other.hostId);
    const noted = await api(`/api/incidents/${id}`, 'PATCH', { note: 'on it' });
    // A repeat of a missed change while away is still sent once.
    publishMessages(env, [
      { type: 'incident', data: { event: 'updated', incident: noted.body.incident } },
    ]);
    // The fan-out has read all of it (a marker of another host, filtered out below, is past).
    await passMarker(env, witness);
    witness.close();

    const second = await connect({ host_id: mine.hostId, since: lastSeen });
    await until(() => incidentsOf(second).length >= 2, 5_000, 'the replay');
    expect(second.ofType('welcome')[0]!.resume).toEqual({
      since: lastSeen,
      status: 'replayed',
      source: 'memory',
      count: 2,
    });
    const resolved = await api(`/api/incidents/${id}/resolve`, 'POST', {
      resolution_method: 'AUTOMATED',
      root_cause: 'rolled back',
    });
    await until(() => incidentsOf(second).length >= 3, 5_000, 'the live frame');
    await passMarker(env, second, { host_id: mine.hostId });
    expect(incidentsOf(second).map((f) => f.data)).toEqual([
      { event: 'updated', incident: assigned.body.incident },
      { event: 'updated', incident: noted.body.incident },
      { event: 'resolved', incident: resolved.body.incident },
    ]);
    const positions = [lastSeen, ...incidentsOf(second).map((f) => f.position)];
    expect(new Set(positions).size).toBe(4);
    second.close();
  });
});

describe("alert and incident subscriptions side by side (the dashboard's socket)", () => {
  const subscriptions = (hostId: string) =>
    JSON.stringify([
      { subscription_id: 'default', filters: { kinds: ['alert'], severities: ['CRITICAL'] } },
      { subscription_id: 'incidents', filters: { kinds: ['incident'], host_ids: [hostId] } },
    ]);
  /** The bus message ingest publishes for a stored alert. */
  const alertMessage = (hostname: string, a: NewAlert): BusMessage => ({
    type: 'alert',
    data: {
      alert_id: a.alertId,
      host_id: a.hostId,
      hostname,
      timestamp: new Date(a.occurredAtUs / 1000).toISOString(),
      timestamp_us: a.occurredAtUs,
      received_at: new Date().toISOString(),
      tripwire_type: a.tripwireType,
      rule_name: a.ruleName,
      severity: a.severity,
      event_detail: null,
    },
  });
  const alertIds = (b: Browser) =>
    b.ofType('alert').map((f) => (f as unknown as { data: { alert_id: string } }).data.alert_id);

  it('filters alerts and incidents apart from the start, and a resume replays both', async () => {
    const host = await newHost();
    const witness = await connect();
    const first = await connect({ subscriptions: subscriptions(host.hostId) });
    expect(first.ofType('welcome')[0]!.subscriptions).toEqual([
      {
        subscription_id: 'default',
        filters: {
          kinds: ['alert'],
          severities: ['CRITICAL'],
          tripwire_types: [],
          host_ids: [],
          include_suppressed: false,
        },
      },
      {
        subscription_id: 'incidents',
        filters: {
          kinds: ['incident'],
          severities: [],
          tripwire_types: [],
          host_ids: [host.hostId],
          include_suppressed: false,
        },
      },
    ]);
    // An INFO alert opens an INFO incident: the incident comes through, the alert does not.
    const info = alertOf(host.hostId);
    publishMessages(env, [alertMessage(host.hostname, info)]);
    await ingestFlush([info]);
    await until(() => incidentsOf(first).length === 1, 5_000, 'the incident');
    const lastSeen = incidentsOf(first)[0]!.position;
    expect(alertIds(first)).toEqual([]);
    first.ws.terminate();
    await first.closed;

    // Missed while away: a CRITICAL alert (alerts subscription) and its incident's update.
    const critical = alertOf(host.hostId, { severity: 'CRITICAL' });
    publishMessages(env, [alertMessage(host.hostname, critical)]);
    const [escalated] = await ingestFlush([critical]);
    // The fan-out has read both (an INFO marker, which neither subscription matches, is past).
    await passMarker(env, witness, { severity: 'INFO' });
    witness.close();

    const second = await connect({ subscriptions: subscriptions(host.hostId), since: lastSeen });
    await until(() => incidentsOf(second).length === 1 && alertIds(second).length === 1);
    expect(second.ofType('welcome')[0]!.resume).toMatchObject({ status: 'replayed', count: 2 });
    expect(alertIds(second)).toEqual([critical.alertId]);
    expect(incidentsOf(second)[0]!.data.incident).toMatchObject({
      incident_id: escalated!.incidentId,
      max_severity: 'CRITICAL',
      alert_count: 2,
    });
    second.close();
  });

  it('refuses a malformed subscriptions= before the upgrade, saying what is wrong', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ subscriptions: 'not json' }, 'subscriptions must be a JSON array'],
      [
        { subscriptions: '[{"subscription_id":"a","filters":{"kinds":["host"]}}]' },
        'kinds: "host"',
      ],
      [
        { subscriptions: '[{"subscription_id":"a"},{"subscription_id":"a"}]' },
        'its own subscription_id',
      ],
      [{ subscriptions: '[{"subscription_id":"a"}]', severity: 'INFO' }, 'not both'],
    ];
    for (const [query, message] of cases) {
      const b = new Browser(fanout.wsUrl, { token: viewer, query });
      await b.opened.catch(() => {});
      await until(() => b.unexpectedResponse !== null, 5_000, 'the refusal');
      expect(b.unexpectedResponse!.status).toBe(400);
      expect(JSON.parse(b.unexpectedResponse!.body).error).toMatchObject({
        code: 'invalid_filter',
        message: expect.stringContaining(message),
      });
    }
  });
});
