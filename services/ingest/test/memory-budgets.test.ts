// The byte budgets as an agent and an operator see them: storage backpressure at
// INGEST_MAX_PENDING_BYTES with a handful of big alerts, and a publish backlog held to
// BUS_MAX_BACKLOG_BYTES while Redis is out of reach, with the gap it leaves announced.
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { proxyFor } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  AgentSession,
  busReader,
  connect,
  errorCode,
  event,
  type RunningIngest,
  register,
  rowsFor,
  startIngest,
  submit,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();

const metric = async (ingest: RunningIngest, name: string) => {
  const text = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
};

/** Holds a lock that blocks every alert insert until released: PostgreSQL "stuck" mid-commit. */
async function blockAlertInserts() {
  const c = await env.pool.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE alert_ids IN SHARE ROW EXCLUSIVE MODE');
  return async () => {
    await c.query('COMMIT');
    c.release();
  };
}

const BUDGET = 256 * 1024;
/** ~60 KiB of event detail: four of them pass the 256 KiB budgets below. */
const bigEvent = (hostId: string) =>
  event(hostId, { eventDetailJson: JSON.stringify({ blob: 'x'.repeat(60 * 1024) }) });

describe('INGEST_MAX_PENDING_BYTES', () => {
  it('holds agents back at the byte budget while the alert count is far below INGEST_MAX_PENDING', async () => {
    const ingest = await startIngest(env, {
      INGEST_MAX_PENDING_BYTES: String(BUDGET),
      BATCH_MAX_SIZE: '2',
    });
    const client = connect(ingest.address);
    try {
      const a = await register(client, `bytes-${randomUUID()}`);
      const session = new AgentSession(client, a.agentToken);
      await until(() => session.commands.length > 0);
      const release = await blockAlertInserts();
      const events = Array.from({ length: 12 }, () => bigEvent(a.hostId));
      session.send(events);
      await until(
        async () => (await metric(ingest, 'tripwire_ingest_pending_alerts_bytes')) >= BUDGET,
        10_000,
        'pending bytes at the budget',
      );
      expect(await metric(ingest, 'tripwire_ingest_pending_alerts')).toBeLessThan(20);
      expect(await metric(ingest, 'tripwire_ingest_flow_control_pauses_total')).toBeGreaterThan(0);
      // The same answer as at the count high-water mark: retry with backoff.
      const refused = await submit(client, a.agentToken, bigEvent(a.hostId)).catch((e) => e);
      expect(errorCode(refused)).toBe(status.RESOURCE_EXHAUSTED);
      expect(session.acked.size).toBe(0);

      await release();
      const ids = events.map((e) => e.alertId);
      await session.waitForAcks(ids, 30_000);
      expect(await rowsFor(env, ids)).toHaveLength(12);
      expect(await metric(ingest, 'tripwire_ingest_pending_alerts_bytes')).toBe(0);
      session.end();
      await session.status;
    } finally {
      client.close();
      await ingest.stop();
    }
  });
});

describe('BUS_MAX_BACKLOG_BYTES', () => {
  it('keeps the publish backlog within its bytes while Redis is away, then publishes a gap and the newest', async () => {
    const proxy = await proxyFor(env.redisUrl);
    const ingest = await startIngest(
      env,
      { BUS_MAX_BACKLOG_BYTES: String(BUDGET) },
      { redisUrl: proxy.url(env.redisUrl) },
    );
    const client = connect(ingest.address);
    const bus = busReader(env);
    try {
      const a = await register(client, `backlog-${randomUUID()}`);
      const session = new AgentSession(client, a.agentToken);
      await until(() => session.commands.length > 0);
      proxy.cut();
      const events = Array.from({ length: 12 }, () => bigEvent(a.hostId));
      for (const e of events) session.send([e]);
      await session.waitForAcks(events.map((e) => e.alertId));
      const backlogBytes = await metric(ingest, 'tripwire_ingest_bus_backlog_bytes');
      expect(backlogBytes).toBeGreaterThan(0);
      expect(backlogBytes).toBeLessThanOrEqual(BUDGET);
      expect(await metric(ingest, 'tripwire_ingest_bus_dropped_total')).toBeGreaterThan(0);

      proxy.restore();
      const newest = events.at(-1)!.alertId;
      await until(() => bus.alertIds().includes(newest), 15_000, 'the backlog published');
      // Read now: an incident message queued after the acks may have pushed one more out.
      const dropped = await metric(ingest, 'tripwire_ingest_bus_dropped_total');
      expect(dropped).toBeGreaterThanOrEqual(8);
      const mine = bus.entries.filter(
        (e) =>
          e.message.type === 'gap' ||
          (e.message.type === 'alert' && e.message.data.host_id === a.hostId),
      );
      const gaps = mine.filter((e) => e.message.type === 'gap');
      expect(gaps.map((g) => g.message.type === 'gap' && g.message.data.dropped)).toEqual([
        dropped,
      ]);
      // The oldest went, the newest that fit the budget follow the gap, in order.
      const after = mine
        .slice(mine.indexOf(gaps[0]!) + 1)
        .map((e) => e.message.type === 'alert' && e.message.data.alert_id);
      expect(after).toEqual(events.slice(-after.length).map((e) => e.alertId));
      expect(after.length).toBeGreaterThan(0);
      expect(after.length).toBeLessThanOrEqual(4);
      expect(await metric(ingest, 'tripwire_ingest_bus_backlog_bytes')).toBe(0);
      session.end();
      await session.status;
    } finally {
      await bus.stop();
      client.close();
      await ingest.stop();
      await proxy.close();
    }
  });
});
