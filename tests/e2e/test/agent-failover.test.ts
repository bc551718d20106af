import { createServer } from 'node:net';
import { createAgentClient } from '@tripwire/agent-sdk';
import { afterAll, describe, expect, it } from 'vitest';
import {
  draft,
  ENROLLMENT_TOKEN,
  metricValue,
  type RunningIngest,
  startIngest,
  storedAlertIds,
  until,
  useAgents,
  useEnvironment,
} from './agent-harness.js';

const env = useEnvironment();
const agents = useAgents();
const backoff = { initialMs: 100, maxMs: 400 };
const running: RunningIngest[] = [];
afterAll(() => Promise.all(running.map((r) => r.stop())));

/** An address nothing listens on: connecting to it is refused at once. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return `127.0.0.1:${port}`;
}

const connectedTo = (ingest: RunningIngest) =>
  metricValue(ingest, 'tripwire_ingest_connected_agents');

describe('a list of ingest addresses', () => {
  it('refuses a list with an entry that is not host:port', () => {
    expect(() =>
      createAgentClient({ server: 'a:1,b', stateDir: '/nonexistent', agentVersion: '1' }),
    ).toThrow(/comma list/);
  });

  it('registers past an unreachable address, then fails over to the next instance with nothing lost or doubled', async () => {
    const a = await startIngest(env);
    const b = await startIngest(env);
    running.push(a, b);
    const client = agents.create({
      server: `${await deadAddress()},${a.address},${b.address}`,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-failover-01',
      backoff,
    });
    await client.start();
    // The dead address was skipped for A, which the stream then uses.
    await until(async () => (await connectedTo(a)) === 1, 10_000, 'the stream on A');
    expect(await connectedTo(b)).toBe(0);

    const ids: string[] = [];
    for (let n = 0; n < 200; n++) ids.push(await client.enqueue(draft(n)));
    await until(() => client.stats().acked >= 100, 10_000, 'acks from A');
    const stopped = a.stop();
    for (let n = 0; n < 300; n++) ids.push(await client.enqueue(draft(n)));
    await stopped;
    // The next address in the list is B.
    await until(async () => (await connectedTo(b)) === 1, 10_000, 'the stream on B');
    expect(await client.flush(20_000)).toBe(true);
    const stored = await storedAlertIds(env, ids);
    expect(stored.length).toBe(ids.length);
    expect(new Set(stored)).toEqual(new Set(ids));

    // B goes too: round robin comes back past the dead address to A, restarted on its port.
    const a2 = await startIngest(env, { GRPC_PORT: String(a.grpcPort) });
    running.push(a2);
    await b.stop();
    await until(async () => (await connectedTo(a2)) === 1, 15_000, 'the stream back on A');
    const last = await client.enqueue(draft(999));
    expect(await client.flush(10_000)).toBe(true);
    expect(await storedAlertIds(env, [last])).toEqual([last]);
    expect(client.stats().reconnects).toBeGreaterThanOrEqual(2);
    await client.stop();
  });

  it('start() fails naming the last address when none can be reached', async () => {
    const client = agents.create({
      server: `${await deadAddress()},${await deadAddress()}`,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-failover-02',
      backoff,
    });
    await expect(client.start()).rejects.toThrow(
      /cannot register with 127\.0\.0\.1:\d+: UNAVAILABLE/,
    );
  });
});
