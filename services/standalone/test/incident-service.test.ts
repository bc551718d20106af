import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  AlertServiceClient,
  type CreateIncidentResponse,
  type IncidentEvent,
  IncidentEventType,
  IncidentServiceClient,
  IncidentState,
  type RegisterAgentResponse,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { startSingleProcess } from '../src/single-process.js';

// Embedded PGlite and the memory bus: the ingest gets the generated operator secret too.
const env = {
  DATABASE_URL: '',
  REDIS_URL: '',
  GRPC_PORT: '0',
  HTTP_PORT: '0',
  PORT: '0',
  METRICS_PORT: '0',
  LOG_LEVEL: 'silent',
};
const homeDir = mkdtempSync(join(tmpdir(), 'tw-standalone-incidents-'));
afterAll(() => rmSync(homeDir, { recursive: true, force: true }));

const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

describe('pnpm start: IncidentService in the single process', () => {
  it('answers the printed admin token and streams changes over the memory bus', async () => {
    const system = await startSingleProcess({ homeDir, env });
    const agents = new AlertServiceClient(system.grpcTarget, credentials.createInsecure());
    const incidents = new IncidentServiceClient(system.grpcTarget, credentials.createInsecure());
    try {
      const agent = await new Promise<RegisterAgentResponse>((resolve, reject) =>
        agents.registerAgent(
          { hostname: 'standalone-incidents', platform: 'linux', agentVersion: '1.0.0' },
          bearer(system.enrollmentToken),
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
      const create = (ruleName: string) =>
        new Promise<CreateIncidentResponse>((resolve, reject) =>
          incidents.createIncident(
            {
              hostId: agent.hostId,
              tripwireType: TripwireType.PROCESS,
              severity: Severity.WARN,
              ruleName,
              assignee: '',
              note: '',
            },
            bearer(system.adminToken),
            (err: ServiceError | null, res) => (err ? reject(err) : resolve(res)),
          ),
        ).then((r) => r.incident!);
      const until = async (done: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!done()) {
          if (Date.now() > deadline) throw new Error('timed out waiting for incident events');
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      const first = await create('by-hand');
      expect(first).toMatchObject({ state: IncidentState.OPEN, createdBy: 'operator:admin' });
      const events: IncidentEvent[] = [];
      const stream = incidents.streamIncidents(
        {
          states: [],
          severities: [],
          hostIds: [agent.hostId],
          tripwireTypes: [],
          includeCurrent: true,
        },
        bearer(system.adminToken),
      );
      stream.on('data', (e: IncidentEvent) => events.push(e));
      stream.on('error', () => {});
      // The snapshot arrives after the stream follows live changes.
      await until(() => events.length === 1);
      const second = await create('by-hand-too');
      await until(() => events.length === 2);
      expect(events.map((e) => [IncidentEventType[e.type], e.incident?.incidentId])).toEqual([
        ['INCIDENT_EVENT_TYPE_SNAPSHOT', first.incidentId],
        ['INCIDENT_EVENT_TYPE_CREATED', second.incidentId],
      ]);
      stream.cancel();
    } finally {
      agents.close();
      incidents.close();
      await system.stop();
    }
  });
});
