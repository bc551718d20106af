import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { AgentEventBatch, AlertServiceClient, ServerCommand } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  connect,
  event,
  type RunningIngest,
  register,
  rowsFor,
  startIngest,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let client: AlertServiceClient;

beforeAll(async () => {
  ingest = await startIngest(env, { PING_INTERVAL_MS: '100' });
  client = connect(ingest.address);
});
afterAll(async () => {
  client?.close();
  await ingest?.stop();
});

const metric = async (name: string) => {
  const text = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

describe('ping and pong', () => {
  it('an event-less batch answering a ping is observed as a round trip, not refused', async () => {
    const { hostId, agentToken } = await register(client, 'pong-01');
    const session = new AgentSession(client, agentToken, true);
    const call = session.call as ClientDuplexStream<AgentEventBatch, ServerCommand>;
    const answered = new Set<number>();
    call.on('data', (c: ServerCommand) => {
      if (c.command?.$case !== 'ping') return;
      answered.add(c.command.ping.serverTimeUs);
      call.write({ events: [], pongServerTimeUs: c.command.ping.serverTimeUs });
    });
    await until(() => answered.size >= 3, 5_000, 'three pings');
    await until(
      async () => (await metric('tripwire_ingest_agent_ping_rtt_seconds_count')) >= 3,
      5_000,
      'three observed round trips',
    );
    // Observed in seconds: three local round trips sum to well under 30 s, where a unit slip
    // (ms or µs recorded as seconds) would sum to thousands. Not a latency claim.
    const rttSum = await metric('tripwire_ingest_agent_ping_rtt_seconds_sum');
    expect(rttSum).toBeGreaterThan(0);
    expect(rttSum).toBeLessThan(30);

    // The stream is still open and healthy: an alert sent after the pongs is stored.
    const e = event(hostId);
    session.send([e]);
    await session.waitForAcks([e.alertId]);
    expect(await rowsFor(env, [e.alertId])).toHaveLength(1);
    const text = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(text).not.toMatch(/tripwire_ingest_calls_refused_total\{[^}]*StreamAlertBatches/);
    expect(text).not.toMatch(/tripwire_ingest_alerts_rejected_total\{/);
    call.removeAllListeners('data');
    session.end();
    expect((await session.status).code).toBe(0);
  });

  it('a pong for a ping never sent is ignored', async () => {
    const { agentToken } = await register(client, 'pong-02');
    const before = await metric('tripwire_ingest_agent_ping_rtt_seconds_count');
    const session = new AgentSession(client, agentToken, true);
    const call = session.call as ClientDuplexStream<AgentEventBatch, ServerCommand>;
    await until(() => session.commands.some((c) => c.command?.$case === 'rules'));
    call.write({ events: [], pongServerTimeUs: 1_000_000 });
    call.write({ events: [], pongServerTimeUs: (Date.now() + 60_000) * 1000 });
    session.end();
    expect((await session.status).code).toBe(0);
    // Other streams' pongs run concurrently in other files only; this file's first test is done.
    expect(await metric('tripwire_ingest_agent_ping_rtt_seconds_count')).toBe(before);
  });
});
