import { randomUUID } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import {
  type AgentEvent,
  type AlertServiceClient,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  ENROLLMENT_TOKEN,
  passMarker,
  type RunningFanout,
  startFanout,
  startIngest,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let fanout: RunningFanout;
let ingest: Awaited<ReturnType<typeof startIngest>>;
let client: AlertServiceClient;

beforeAll(async () => {
  ingest = await startIngest(env);
  client = ingest.client;
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

describe('end to end', () => {
  it('a gRPC agent streams alerts; a filtered WebSocket client receives exactly the matching ones', async () => {
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      client.registerAgent(
        { hostname: 'e2e-web-01', platform: 'linux', agentVersion: '1.0' },
        bearer(ENROLLMENT_TOKEN),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const viewer = await auth.issue('eve', 'viewer');
    const browser = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { severity: 'CRITICAL', type: 'FILE,PROCESS' },
    });
    await browser.opened;
    await until(() => browser.ofType('welcome').length === 1);

    const commands: ServerCommand[] = [];
    const stream = client.streamAlertBatches(bearer(reg.agentToken));
    stream.on('data', (c: ServerCommand) => commands.push(c));
    stream.on('error', () => {});
    const event = (severity: Severity, tripwireType: TripwireType): AgentEvent => ({
      alertId: randomUUID(),
      hostId: reg.hostId,
      tripwireType,
      severity,
      timestampUs: Date.now() * 1000,
      ruleName: 'e2e',
      eventDetailJson: JSON.stringify({ path: '/etc/hosts' }),
    });
    const events = [
      event(Severity.CRITICAL, TripwireType.FILE),
      event(Severity.INFO, TripwireType.FILE),
      event(Severity.CRITICAL, TripwireType.NETWORK),
      event(Severity.CRITICAL, TripwireType.PROCESS),
      event(Severity.WARN, TripwireType.PROCESS),
    ];
    stream.write({ events });
    const expected = [events[0]!, events[3]!].map((e) => e.alertId);
    await until(() => browser.alertIds().length === 2);
    // The other three were published with these two: past a later marker, none can still come.
    const marker = await passMarker(env, browser);
    expect(browser.alertIds()).toEqual([...expected, marker]);
    expect(browser.alerts()[0]!.data).toMatchObject({
      hostname: 'e2e-web-01',
      host_id: reg.hostId,
      severity: 'CRITICAL',
      tripwire_type: 'FILE',
      event_detail: { path: '/etc/hosts' },
    });
    expect(browser.ofType('host')).toContainEqual(
      expect.objectContaining({
        data: expect.objectContaining({ hostname: 'e2e-web-01', status: 'online' }),
      }),
    );

    // An admin adds a rule for this host through the REST API; the agent's stream gets the new rule set.
    const admin = await auth.issue('ada', 'admin');
    const res = await fetchDocumented(`${fanout.url}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        host_id: reg.hostId,
        name: 'hosts-file',
        tripwire_type: 'FILE',
        severity: 'CRITICAL',
        target: '/etc/hosts',
      }),
    });
    expect(res.status).toBe(201);
    await until(() =>
      commands.some(
        (c) =>
          c.command?.$case === 'rules' &&
          c.command.rules.rules.some((r) => r.name === 'hosts-file'),
      ),
    );
    stream.end();
    browser.close();
  });

  it('alerts from an agent open an incident whose frames follow their alerts; REST changes follow live', async () => {
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      client.registerAgent(
        { hostname: 'e2e-db-01', platform: 'linux', agentVersion: '1.0' },
        bearer(ENROLLMENT_TOKEN),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const viewer = await auth.issue('eve', 'viewer');
    const browser = new Browser(fanout.wsUrl, { token: viewer, query: { host_id: reg.hostId } });
    await browser.opened;
    await until(() => browser.ofType('welcome').length === 1);
    const stream = client.streamAlertBatches(bearer(reg.agentToken));
    stream.on('error', () => {});
    const events = Array.from(
      { length: 3 },
      (_, i): AgentEvent => ({
        alertId: randomUUID(),
        hostId: reg.hostId,
        tripwireType: TripwireType.FILE,
        severity: i === 1 ? Severity.CRITICAL : Severity.WARN,
        timestampUs: Date.now() * 1000 + i,
        ruleName: 'e2e-storm',
        eventDetailJson: '{"path":"/var/lib/db"}',
      }),
    );
    stream.write({ events });
    type IncidentFrame = {
      type: string;
      data: { event: string; incident: Record<string, unknown> & { alert_count: number } };
    };
    const incidents = () => browser.ofType('incident') as unknown as IncidentFrame[];
    await until(() => incidents().at(-1)?.data.incident.alert_count === 3, 10_000, 'the incident');
    expect(incidents()[0]!.data).toMatchObject({
      event: 'created',
      incident: {
        host_id: reg.hostId,
        hostname: 'e2e-db-01',
        rule_name: 'e2e-storm',
        created_by: 'ingest',
      },
    });
    expect(incidents().at(-1)!.data.incident).toMatchObject({
      max_severity: 'CRITICAL',
      state: 'OPEN',
    });
    // Each incident frame comes after the alerts it counts (ingest publishes a flush's alerts first).
    for (const frame of incidents()) {
      const before = browser.frames.slice(0, browser.frames.indexOf(frame as never));
      expect(before.filter((f) => f.type === 'alert').length).toBeGreaterThanOrEqual(
        frame.data.incident.alert_count,
      );
    }

    const admin = await auth.issue('ada', 'admin');
    const id = incidents()[0]!.data.incident.incident_id as string;
    const res = await fetchDocumented(`${fanout.url}/api/incidents/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'ACKNOWLEDGED', assignee: 'ada' }),
    });
    expect(res.status).toBe(200);
    await until(
      () => incidents().some((f) => f.data.incident.state === 'ACKNOWLEDGED'),
      5_000,
      'the change',
    );
    expect(incidents().at(-1)!.data).toMatchObject({
      event: 'updated',
      incident: { incident_id: id, state: 'ACKNOWLEDGED', assignee: 'ada', alert_count: 3 },
    });
    stream.end();
    browser.close();
  });
});
