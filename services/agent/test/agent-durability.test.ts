// Nothing lost, nothing twice: the ingest service killed mid-stream, the agent killed with
// alerts in its outbox, and an outbox that overflows. Real processes throughout.
import { join } from 'node:path';
import { Outbox } from '@tripwire/agent-sdk';
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

beforeAll(async () => {
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN);
  await ingest.start();
}, 60_000);
afterAll(async () => {
  await ingest?.stop();
});

/** How every agent here reaches the server; each test's agents register under their own name. */
const connection = (stateDir: string, hostname = `host-${stateDir.split('-').at(-1)}`) => [
  '--hostname',
  hostname,
  '--server',
  ingest.address,
  '--state-dir',
  stateDir,
  '--insecure',
];

/** The host id an agent registered as (from its log). */
async function hostIdOf(agent: AgentProcess): Promise<string> {
  let id: string | undefined;
  await until(
    () => {
      id = agent.logLines().find((l) => typeof l.hostId === 'string')?.hostId as string | undefined;
      return !!id;
    },
    30_000,
    'the agent to register',
  );
  return id!;
}

const countFor = async (hostId: string) =>
  Number(
    (await env.pool.query('SELECT count(*) AS n FROM alerts WHERE host_id = $1', [hostId])).rows[0]
      .n,
  );

describe('delivery', () => {
  it('every alert of 10,000 from four agents is stored exactly once across a kill -9 of ingest', async () => {
    const agents = Array.from({ length: 4 }, (_, i) => {
      const dir = tempDir('demo');
      return new AgentProcess(dir, [
        'demo',
        ...connection(dir, `demo-${i}`),
        '--rate',
        '1000',
        '--duration',
        '2.5',
      ]);
    });
    for (const a of agents) a.start();
    const hosts = await Promise.all(agents.map(hostIdOf));
    // Mid-stream: the ingest service dies without a chance to drain, then comes back.
    await until(async () => (await Promise.all(hosts.map(countFor))).some((n) => n > 500), 20_000);
    await ingest.kill9();
    // Down until every agent has seen its stream end (and goes on queueing alerts meanwhile).
    const streamEnded = (a: (typeof agents)[number]) =>
      a.logLines().some((l) => String(l.msg).startsWith('stream ended'));
    await until(() => agents.every(streamEnded), 20_000, 'every agent to lose its stream');
    await ingest.start();

    const codes = await Promise.all(agents.map((a) => a.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const sent = agents.map(
      (a) => a.logLines().find((l) => l.msg === 'demo finished')!.generated as number,
    );
    expect(sent.reduce((a, b) => a + b, 0)).toBe(10_000);
    // alert_id is the primary key: a resent alert cannot be stored twice, so the count per host
    // equals what that agent queued exactly when every alert arrived once.
    expect(await Promise.all(hosts.map(countFor))).toEqual(sent);
  }, 120_000);

  it('an agent killed with unacknowledged alerts in its outbox delivers them once after restart', async () => {
    const stateDir = tempDir('crash');
    const demo = new AgentProcess(stateDir, ['demo', ...connection(stateDir), '--rate', '200']);
    demo.start();
    const hostId = await hostIdOf(demo);
    await ingest.stop();
    // With the server gone, alerts pile up in the outbox; then the agent dies mid-write.
    await until(() => demo.logLines().some((l) => (l.queued as number) >= 300), 20_000);
    await demo.kill9();
    const storedBefore = new Set(
      (await alertRows(env.pool, 'host_id = $1', [hostId])).map((r) => r.alert_id),
    );
    // What the dead agent left unacknowledged, read with the SDK's own outbox (torn tail skipped).
    const outbox = await Outbox.open({ path: join(stateDir, 'outbox.log') });
    const pending = outbox.alerts().map((a) => a.alertId);
    await outbox.close();
    expect(pending.length).toBeGreaterThanOrEqual(300);
    await ingest.start();

    // Restarted as a watcher with nothing to watch: all it sends is its outbox.
    const agent = new AgentProcess(stateDir, [
      'run',
      ...connection(stateDir),
      '--rules-file',
      rulesFile([]),
    ]);
    agent.start();
    await until(
      () => agent.logLines().some((l) => l.msg === 'outbox delivered'),
      30_000,
      'the outbox to drain',
    );
    await agent.stop();
    const rows = await alertRows(env.pool, 'host_id = $1', [hostId]);
    const ids = rows.map((r) => r.alert_id);
    for (const id of pending) expect(ids).toContain(id);
    // Exactly once: the rows are what was stored before plus the pending ones not yet stored.
    const expected = new Set([...storedBefore, ...pending]);
    expect(ids.length).toBe(expected.size);
    expect(new Set(ids)).toEqual(expected);
  }, 120_000);

  it('an overflowing outbox drops INFO first and says how many it dropped', async () => {
    await ingest.stop();
    const stateDir = tempDir('overflow');
    const demo = new AgentProcess(stateDir, [
      'demo',
      ...connection(stateDir),
      // 6,000 alerts of ~400 bytes overflow 1 MiB (about 2,600 fit), but their ~23% CRITICAL
      // (~1,400) fit with room to spare: only INFO and then WARN may go.
      '--rate',
      '1500',
      '--duration',
      '4',
      '--outbox-max-mb',
      '1',
    ]);
    // Register first, so the agent has its credentials before the server goes away.
    await ingest.start();
    demo.start();
    const hostId = await hostIdOf(demo);
    await ingest.stop();
    // Every alert goes into the outbox while the server is away, however slow the machine.
    await until(() => demo.logLines().some((l) => l.msg === 'demo alerts generated'), 60_000);
    await ingest.start();
    await demo.exited;
    const [dropped] = await alertRows(
      env.pool,
      "host_id = $1 AND rule_name = 'tripwire-agent.outbox-overflow'",
      [hostId],
    );
    expect(dropped).toBeDefined();
    const detail = dropped!.event_detail as {
      dropped: number;
      by_severity: Record<string, number>;
    };
    expect(detail.dropped).toBeGreaterThan(0);
    expect(detail.by_severity.INFO).toBeGreaterThan(0);
    expect(detail.by_severity.CRITICAL ?? 0).toBe(0);
  }, 120_000);
});
