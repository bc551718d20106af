import { randomUUID } from 'node:crypto';
import { Severity } from '@tripwire/proto';
import { listIncidentAlerts, listIncidents } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  busReader,
  connect,
  event,
  type RunningIngest,
  register,
  startIngest,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
// Small batches and several flushes in flight: many overlapping transactions per instance.
const overrides = { BATCH_MAX_SIZE: '40', BATCH_MAX_DELAY_MS: '2', BATCH_MAX_CONCURRENT: '4' };
let first: RunningIngest;
let second: RunningIngest;

beforeAll(async () => {
  [first, second] = await Promise.all([startIngest(env, overrides), startIngest(env, overrides)]);
});
afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
});

const severityOf = (i: number) =>
  i % 97 === 3 ? Severity.CRITICAL : i % 3 ? Severity.INFO : Severity.WARN;

describe('incidents at ingest', () => {
  it('turns a storm of alerts over gRPC into one incident with the right count and severity', async () => {
    const client = connect(first.address);
    try {
      const agent = await register(client, `storm-${randomUUID().slice(0, 8)}`);
      const session = new AgentSession(client, agent.agentToken, true);
      const events = Array.from({ length: 1000 }, (_, i) =>
        event(agent.hostId, { severity: severityOf(i), ruleName: 'shadow-watch' }),
      );
      for (let i = 0; i < events.length; i += 100) session.send(events.slice(i, i + 100));
      await session.waitForAcks(events.map((e) => e.alertId));
      session.end();
      const { incidents, total } = await listIncidents(env.pool, { hostId: agent.hostId });
      expect(total).toBe(1);
      expect(incidents[0]).toMatchObject({
        state: 'OPEN',
        ruleName: 'shadow-watch',
        tripwireType: 'FILE',
        alertCount: 1000,
        maxSeverity: 'CRITICAL',
      });
      const critical = await listIncidentAlerts(env.pool, incidents[0]!.incidentId, {
        severities: ['CRITICAL'],
      });
      expect(critical.alerts.map((a) => a.alertId).sort()).toEqual(
        events
          .filter((e) => e.severity === Severity.CRITICAL)
          .map((e) => e.alertId)
          .sort(),
      );
    } finally {
      client.close();
    }
  });

  it('announces the incident of a storm on both bus streams: created, then updated up to the final count', async () => {
    const events = busReader(env, 'events');
    const control = busReader(env, 'control');
    const client = connect(first.address);
    try {
      const hostname = `announce-${randomUUID().slice(0, 8)}`;
      const agent = await register(client, hostname);
      const session = new AgentSession(client, agent.agentToken, true);
      const storm = Array.from({ length: 300 }, (_, i) =>
        event(agent.hostId, {
          ruleName: 'hosts-watch',
          severity: i === 250 ? Severity.CRITICAL : Severity.INFO,
        }),
      );
      for (let i = 0; i < storm.length; i += 50) session.send(storm.slice(i, i + 50));
      await session.waitForAcks(storm.map((e) => e.alertId));
      session.end();
      const ofHost = (reader: ReturnType<typeof busReader>) =>
        reader.incidentEvents().filter((m) => m.incident.host_id === agent.hostId);
      for (const reader of [events, control]) {
        await until(
          () => ofHost(reader).at(-1)?.incident.alert_count === storm.length,
          10_000,
          'an incident message with the final alert count',
        );
        const messages = ofHost(reader);
        expect(messages[0]!.event).toBe('created');
        expect(messages.slice(1).map((m) => m.event)).toEqual(
          messages.slice(1).map(() => 'updated'),
        );
        expect(new Set(messages.map((m) => m.incident.incident_id)).size).toBe(1);
        expect(messages.at(-1)!.incident).toMatchObject({
          state: 'OPEN',
          rule_name: 'hosts-watch',
          hostname,
          max_severity: 'CRITICAL',
          alert_count: storm.length,
        });
        const revisions = messages.map((m) => m.incident.revision);
        expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      }
      // The first message follows the first flush's alerts. (Later ones may count alerts of
      // flushes that committed meanwhile and publish right after: they read the incident as it
      // stands.)
      const firstMessage = events.entries.findIndex(
        (e) => e.message.type === 'incident' && e.message.data.incident.host_id === agent.hostId,
      );
      expect(
        events.entries
          .slice(0, firstMessage)
          .filter((e) => e.message.type === 'alert' && e.message.data.host_id === agent.hostId)
          .length,
      ).toBeGreaterThan(0);
    } finally {
      client.close();
      await Promise.all([events.stop(), control.stop()]);
    }
  });

  it("publishes each flush's incident message after that flush's alerts", async () => {
    const events = busReader(env, 'events');
    const client = connect(first.address);
    try {
      const agent = await register(client, `order-${randomUUID().slice(0, 8)}`);
      const session = new AgentSession(client, agent.agentToken, true);
      const messagesOf = () =>
        events.entries.filter(
          (e) => e.message.type === 'incident' && e.message.data.incident.host_id === agent.hostId,
        );
      for (let round = 1; round <= 3; round++) {
        // 30 alerts: one flush (BATCH_MAX_SIZE 40), then wait for its incident message.
        const batch = Array.from({ length: 30 }, () =>
          event(agent.hostId, { ruleName: 'order-watch', severity: Severity.WARN }),
        );
        session.send(batch);
        await session.waitForAcks(batch.map((e) => e.alertId));
        await until(() => messagesOf().length === round, 10_000, `incident message ${round}`);
        const message = messagesOf().at(-1)!;
        const at = events.entries.indexOf(message);
        const alertsBefore = events.entries
          .slice(0, at)
          .filter((e) => e.message.type === 'alert' && e.message.data.host_id === agent.hostId);
        expect(alertsBefore.length).toBe(30 * round);
        expect(message.message.data).toMatchObject({
          event: round === 1 ? 'created' : 'updated',
          incident: { alert_count: 30 * round },
        });
      }
      session.end();
    } finally {
      client.close();
      await events.stop();
    }
  });

  it('two ingest instances receiving the same host and rule at once produce one incident', async () => {
    const clients = [connect(first.address), connect(second.address)];
    try {
      const agent = await register(clients[0]!, `race-${randomUUID().slice(0, 8)}`);
      const perInstance = 800;
      const sent = await Promise.all(
        clients.map(async (client, n) => {
          const session = new AgentSession(client, agent.agentToken, true);
          const events = Array.from({ length: perInstance }, (_, i) =>
            event(agent.hostId, {
              ruleName: 'sudoers-watch',
              severity: n === 1 && i === perInstance - 1 ? Severity.CRITICAL : Severity.WARN,
            }),
          );
          for (let i = 0; i < events.length; i += 20) session.send(events.slice(i, i + 20));
          await session.waitForAcks(events.map((e) => e.alertId));
          session.end();
          return events.length;
        }),
      );
      const { incidents, total } = await listIncidents(env.pool, { hostId: agent.hostId });
      expect(total).toBe(1);
      expect(incidents[0]).toMatchObject({
        alertCount: sent[0]! + sent[1]!,
        maxSeverity: 'CRITICAL',
      });
      const { rows } = await env.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT incident_id)::int AS incidents
         FROM alerts WHERE host_id = $1`,
        [agent.hostId],
      );
      expect(rows[0]).toEqual({ n: 2 * perInstance, incidents: 1 });
    } finally {
      for (const c of clients) c.close();
    }
  });
});
