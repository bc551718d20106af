// The README's IncidentService grpcurl examples, run as written against a live ingest service:
// the shell expands them (quotes, $VARIABLES), reflection resolves each method as grpcurl does,
// and the -d JSON goes through proto3 JSON rules.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Severity } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import {
  AgentSession,
  connect,
  event,
  type RunningIngest,
  register,
  startIngest,
  useEnvironment,
} from './ingest-harness.js';
import { listServices, parseGrpcurlArgs, runGrpcurl } from './reflection-grpcurl.js';

const README = new URL('../../../README.md', import.meta.url);
const README_ADDRESS = '127.0.0.1:50051';

/** The shell commands of the README's "Talking to the ingest service" that call IncidentService. */
function incidentCommands(): string[] {
  const text = readFileSync(README, 'utf8');
  const section = text.split('## Talking to the ingest service')[1]?.split(/\n## /)[0] ?? '';
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.replace(/\\\n/g, ' ').split('\n'))
    .filter((line) => line.startsWith('grpcurl') && line.includes('tripwire.v1.IncidentService/'));
}

/** The arguments bash hands to grpcurl for `command`, with these variables set. */
function shellArgs(command: string, vars: Record<string, string>): string[] {
  const out = execFileSync(
    'bash',
    ['--noprofile', '--norc', '-c', `grpcurl() { printf '%s\\0' "$@"; }\n${command}`],
    {
      env: { PATH: process.env.PATH, ...vars },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return out.split('\0').slice(0, -1);
}

const env = useEnvironment();
let ingest: RunningIngest;

beforeAll(async () => {
  ingest = await startIngest(env, { OPERATOR_JWT_SECRET });
});
afterAll(() => ingest?.stop());

describe('README grpcurl examples for IncidentService', () => {
  it('each one answers OK against a live ingest service, with what the README says it does', async () => {
    const agents = connect(ingest.address);
    const hostname = `readme-${randomUUID().slice(0, 8)}`;
    const agent = await register(agents, hostname);
    const session = new AgentSession(agents, agent.agentToken, true);
    const storm = Array.from({ length: 20 }, (_, i) =>
      event(agent.hostId, { severity: i === 5 ? Severity.CRITICAL : Severity.INFO }),
    );
    session.send(storm);
    await session.waitForAcks(storm.map((e) => e.alertId));
    session.end();
    agents.close();
    const { rows } = await env.pool.query<{ incident_id: string }>(
      'SELECT incident_id FROM incidents WHERE host_id = $1',
      [agent.hostId],
    );
    expect(rows).toHaveLength(1);
    const incidentId = rows[0]!.incident_id;
    const vars = {
      ADMIN_TOKEN: await operatorAuth.issue('readme', 'admin'),
      HOST_ID: agent.hostId,
      INCIDENT_ID: incidentId,
    };

    const commands = incidentCommands();
    const answers = new Map<string, Array<Record<string, unknown>>>();
    for (const command of commands) {
      const cmd = parseGrpcurlArgs(shellArgs(command, vars));
      expect(cmd).toMatchObject({ address: README_ADDRESS, plaintext: true });
      const result = await runGrpcurl({ ...cmd, address: ingest.address });
      expect({ command, error: result.error?.details }).toEqual({ command, error: undefined });
      answers.set(cmd.method.split('/')[1]!, result.messages);
    }
    expect([...answers.keys()].sort()).toEqual([
      'GetIncident',
      'ListIncidentAlerts',
      'ListIncidents',
      'ResolveIncident',
      'StreamIncidents',
      'UpdateIncident',
    ]);

    const [list] = answers.get('ListIncidents')!;
    expect(list).toMatchObject({ total_count: '1' });
    expect(list!.incidents).toMatchObject([
      { incident_id: incidentId, state: 'OPEN', max_severity: 'CRITICAL', alert_count: '20' },
    ]);
    expect(answers.get('GetIncident')![0]!.incident).toMatchObject({
      incident_id: incidentId,
      hostname,
    });
    expect(answers.get('ListIncidentAlerts')![0]!.alerts).toMatchObject([
      { alert_id: storm[5]!.alertId, severity: 'CRITICAL' },
    ]);
    expect(answers.get('UpdateIncident')![0]!.incident).toMatchObject({
      state: 'ACKNOWLEDGED',
      notes: [{ author: 'operator:readme', text: 'looking into it' }],
    });
    expect(answers.get('ResolveIncident')![0]!.incident).toMatchObject({
      state: 'RESOLVED',
      resolution_method: 'MANUAL',
      root_cause: 'a deploy script rewrote /etc/passwd',
    });
    expect(answers.get('StreamIncidents')).toMatchObject([
      {
        type: 'INCIDENT_EVENT_TYPE_SNAPSHOT',
        incident: { incident_id: incidentId, state: 'RESOLVED' },
      },
    ]);
  });

  it('reflection lists IncidentService and health reports it serving', async () => {
    expect(await listServices(ingest.address)).toEqual(
      expect.arrayContaining(['tripwire.v1.AlertService', 'tripwire.v1.IncidentService']),
    );
    const health = await runGrpcurl({
      address: ingest.address,
      plaintext: true,
      headers: [],
      method: 'grpc.health.v1.Health/Check',
      data: '{"service":"tripwire.v1.IncidentService"}',
    });
    expect(health).toEqual({ messages: [{ status: 'SERVING' }], error: undefined });
  });

  it('the check itself refuses what grpcurl refuses: unknown fields and enum names', async () => {
    const token = await operatorAuth.issue('readme', 'viewer');
    const base = {
      address: ingest.address,
      plaintext: true,
      headers: [['authorization', `Bearer ${token}`]] as Array<[string, string]>,
      method: 'tripwire.v1.IncidentService/ListIncidents',
    };
    await expect(runGrpcurl({ ...base, data: '{"state":["OPEN"]}' })).rejects.toThrow(
      /has no field "state"/,
    );
    await expect(runGrpcurl({ ...base, data: '{"states":["CLOSED"]}' })).rejects.toThrow(
      /"CLOSED" is not a value of IncidentState/,
    );
    const camel = await runGrpcurl({ ...base, data: '{"pageSize":1,"states":["OPEN"]}' });
    expect(camel.error).toBeUndefined();
  });
});
