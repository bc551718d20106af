import { randomUUID } from 'node:crypto';
import { Severity } from '@tripwire/proto';
import { listIncidentAlerts, listIncidents } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  connect,
  event,
  type RunningIngest,
  register,
  startIngest,
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
