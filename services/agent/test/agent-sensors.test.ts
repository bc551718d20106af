// tripwire-agent run, as installed on a server: real sensors, the real ingest service,
// PostgreSQL and Redis. Each alert must arrive in PostgreSQL and on the bus.
import { spawn } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { createRule } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentProcess,
  alertRows,
  ENROLLMENT_TOKEN,
  IngestProcess,
  rulesFile,
  tempDir,
  until,
  useAgentTestEnv,
} from './agent-harness.js';

const env = useAgentTestEnv();
let ingest: IngestProcess;
let agent: AgentProcess;
let watched: string;
let hostId: string;
const unique = `${process.pid}${Date.now() % 100_000}`;

beforeAll(async () => {
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN);
  await ingest.start();
  watched = tempDir('watched');
  writeFileSync(join(watched, 'app.conf'), 'port = 80\n');
  writeFileSync(join(watched, 'secret.key'), 'abc\n');
  const stateDir = tempDir('state');
  agent = new AgentProcess(stateDir, [
    'run',
    '--server',
    ingest.address,
    '--state-dir',
    stateDir,
    '--insecure',
    '--rules-file',
    rulesFile([
      { name: 'app-config', type: 'FILE', severity: 'CRITICAL', target: watched },
      { name: 'odd-sleep', type: 'PROCESS', severity: 'WARN', target: `sleep 3${unique}` },
      { name: 'listeners', type: 'NETWORK', severity: 'WARN', target: 'listen' },
    ]),
    '--rescan-interval',
    '2',
    '--process-poll',
    '200',
    '--network-poll',
    '200',
  ]);
  agent.start();
  await until(
    () => agent.logLines().some((l) => l.msg === 'tripwire agent running'),
    30_000,
    'the agent to start',
  );
  hostId = agent.logLines().find((l) => l.msg === 'tripwire agent running')!.hostId as string;
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await ingest?.stop();
});

/** The one alert for this host whose detail matches, once it is in PostgreSQL and on the bus. */
async function arrived(ruleName: string, match: (d: Record<string, unknown>) => boolean) {
  let found: Awaited<ReturnType<typeof alertRows>>[number] | undefined;
  await until(
    async () => {
      const rows = await alertRows(env.pool, 'host_id = $1 AND rule_name = $2', [hostId, ruleName]);
      found = rows.find((r) => r.event_detail && match(r.event_detail));
      return !!found;
    },
    15_000,
    `a ${ruleName} alert`,
  ).catch(async (err) => {
    const rows = await alertRows(env.pool, 'host_id = $1', [hostId]);
    console.log(JSON.stringify(rows.map((r) => [r.rule_name, r.event_detail])));
    console.log(agent.output.join('').slice(-4000));
    throw err;
  });
  await until(
    () =>
      env.bus.some(
        (e) => e.message.type === 'alert' && e.message.data.alert_id === found!.alert_id,
      ),
    5_000,
    'the alert on the bus',
  );
  return found!;
}

describe('tripwire-agent run', () => {
  it('reports a modified, a chmod-ed and a deleted watched file', async () => {
    const conf = join(watched, 'app.conf');
    writeFileSync(conf, 'port = 8080\n');
    const modified = await arrived('app-config', (d) => d.path === conf && d.change === 'modified');
    expect(modified.severity).toBe('CRITICAL');
    expect(modified.tripwire_type).toBe('FILE');
    expect(modified.event_detail).toMatchObject({ path: conf, change: 'modified' });
    expect(modified.event_detail!.old_sha256).not.toEqual(modified.event_detail!.new_sha256);

    const key = join(watched, 'secret.key');
    chmodSync(key, 0o777);
    const chmodded = await arrived(
      'app-config',
      (d) => d.path === key && d.change === 'mode_changed',
    );
    expect(chmodded.event_detail).toMatchObject({ new_mode: '0777' });

    rmSync(key);
    await arrived('app-config', (d) => d.path === key && d.change === 'deleted');
  });

  it('reports a process that matches a rule, and a new listening socket', async () => {
    const sleeper = spawn('sleep', [`3${unique}`]);
    try {
      const proc = await arrived('odd-sleep', (d) => d.pid === sleeper.pid);
      expect(String(proc.event_detail!.cmdline)).toContain(`sleep 3${unique}`);
    } finally {
      sleeper.kill();
    }

    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const listen = await arrived('listeners', (d) => d.local_port === port);
      expect(listen.event_detail).toMatchObject({
        kind: 'listen',
        local_port: port,
        pid: process.pid,
      });
    } finally {
      server.close();
    }
  });

  it('watches what a rules update from the server says, without a restart', async () => {
    const later = tempDir('later');
    const file = join(later, 'hosts');
    writeFileSync(file, '127.0.0.1 localhost\n');
    const rule = await createRule(env.pool, {
      hostId,
      name: 'late-rule',
      tripwireType: 'FILE',
      severity: 'WARN',
      target: later,
      config: {},
      enabled: true,
    });
    // As the fan-out service announces a rule change (services/fanout/src/http-api.ts).
    const publisher = new BusPublisher({
      redis: createRedisClient(env.redisUrl, { failFastWhileDisconnected: true }),
      keyPrefix: env.keyPrefix,
      stream: 'control',
    });
    publisher.publish([
      { type: 'rules', data: { host_id: hostId, rule_id: rule.ruleId, change: 'created' } },
    ]);
    await until(
      () =>
        agent
          .logLines()
          .some((l) => l.msg === 'rules active' && (l.rules as string[]).includes('late-rule')),
      10_000,
      'the agent to apply the new rule',
    );
    publisher.close();
    writeFileSync(file, '10.0.0.1 evil\n');
    const alert = await arrived('late-rule', (d) => d.path === file);
    expect(alert.severity).toBe('WARN');
  });
});
