import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { AlertServiceClient } from '@tripwire/proto';
import { proxyFor } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  busReader,
  connect,
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

/** Holds a lock that blocks every alert insert until released: PostgreSQL too slow to store. */
async function blockAlertInserts() {
  const c = await env.pool.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE alert_ids IN SHARE ROW EXCLUSIVE MODE');
  return async () => {
    await c.query('COMMIT');
    c.release();
  };
}

let holds = 0;
/**
 * Holds the COMMIT of the transaction that stores this alert: a deferred constraint trigger on
 * the idempotency ledger runs at commit time and waits for an advisory lock the test holds. The
 * INSERT itself has run; only the COMMIT is pending. `reached()` waits until it is.
 */
async function holdCommitOf(alertId: string) {
  const key = 150_000 + process.pid * 10 + holds++;
  const name = `test_hold_commit_${key}`;
  const holder = await env.pool.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  await env.pool.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(${key}); RETURN NULL; END $$`);
  await env.pool.query(`CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON alert_ids
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.alert_id = '${alertId}'::uuid) EXECUTE FUNCTION ${name}()`);
  const waiting = async () => {
    const { rowCount } = await env.pool.query(
      `SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1
          AND d.datname = current_database()`,
      [key],
    );
    return rowCount === 1;
  };
  return {
    reached: () => until(waiting, 10_000, 'the COMMIT to wait on the held lock'),
    release: async () => {
      await holder.query('SELECT pg_advisory_unlock($1)', [key]);
      holder.release();
      await env.pool.query(`DROP TRIGGER ${name} ON alert_ids; DROP FUNCTION ${name}()`);
    },
  };
}

describe('durability', () => {
  let ingest: RunningIngest;
  let client: AlertServiceClient;
  beforeAll(async () => {
    ingest = await startIngest(env, {
      BATCH_MAX_SIZE: '50',
      INGEST_MAX_PENDING: '200',
      STREAM_MAX_UNACKED: '100',
    });
    client = connect(ingest.address);
  });
  afterAll(async () => {
    client?.close();
    await ingest?.stop();
  });

  it('acknowledges only after the COMMIT that made the alert durable', async () => {
    const a = await register(client, `ack-${randomUUID()}`);
    const session = new AgentSession(client, a.agentToken);
    await until(() => session.commands.length > 0);
    const e = event(a.hostId);
    const commit = await holdCommitOf(e.alertId);
    try {
      session.send([e]);
      // The INSERT has run and its transaction is committing: the COMMIT waits on the held lock.
      await commit.reached();
      // An invalid alert sent now is rejected at once on the same stream; an ack sent before the
      // COMMIT would have been written to the stream before this rejection.
      session.send([event(a.hostId, { alertId: 'marker-not-a-uuid' })]);
      await until(() => session.rejections.length === 1, 10_000, 'the marker rejection');
      expect(session.acked.has(e.alertId)).toBe(false);
      // Not committed yet: invisible to every other connection.
      expect(await rowsFor(env, [e.alertId])).toHaveLength(0);
    } finally {
      await commit.release();
    }
    await session.waitForAcks([e.alertId]);
    expect(await rowsFor(env, [e.alertId])).toHaveLength(1);
    session.end();
    await session.status;
  });

  it('stops reading from streams while PostgreSQL is slow, instead of buffering without limit', async () => {
    const a = await register(client, `flow-${randomUUID()}`);
    const session = new AgentSession(client, a.agentToken, true);
    await until(() => session.commands.length > 0);
    const receivedBefore = await metric(ingest, 'tripwire_ingest_alerts_received_total');
    const pausesBefore = await metric(ingest, 'tripwire_ingest_flow_control_pauses_total');
    const release = await blockAlertInserts();
    const events = Array.from({ length: 5000 }, () => event(a.hostId));
    for (let i = 0; i < events.length; i += 100) session.send(events.slice(i, i + 100));
    const pauses = () => metric(ingest, 'tripwire_ingest_flow_control_pauses_total');
    await until(async () => (await pauses()) > pausesBefore, 10_000, 'the stream to be paused');
    // A bounded quiet period for the negative claim: had the pause not held, the server would
    // go on reading the 5,000 alerts the agent has sent meanwhile.
    await new Promise((r) => setTimeout(r, 500));

    const received =
      (await metric(ingest, 'tripwire_ingest_alerts_received_total')) - receivedBefore;
    expect(received).toBeLessThan(1_000);
    expect(await metric(ingest, 'tripwire_ingest_pending_alerts')).toBeLessThanOrEqual(300);
    expect(session.acked.size).toBe(0);

    await release();
    await session.waitForAcks(
      events.map((e) => e.alertId),
      30_000,
    );
    expect(
      await rowsFor(
        env,
        events.map((e) => e.alertId),
      ),
    ).toHaveLength(5000);
    session.end();
    expect((await session.status).code).toBe(status.OK);
  });
});

describe('published marks refused by PostgreSQL', () => {
  it('are counted, retried, and land once PostgreSQL takes them; acks never waited for them', async () => {
    const ingest = await startIngest(env);
    const client = connect(ingest.address);
    await env.pool.query(`
      CREATE OR REPLACE FUNCTION test_refuse_marks() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the test refuses published marks'; END $$;
      CREATE TRIGGER test_refuse_marks BEFORE UPDATE OF published ON alert_ids
        FOR EACH ROW EXECUTE FUNCTION test_refuse_marks();`);
    try {
      const a = await register(client, `marks-${randomUUID()}`);
      const session = new AgentSession(client, a.agentToken);
      const events = Array.from({ length: 20 }, () => event(a.hostId));
      const ids = events.map((e) => e.alertId);
      session.send(events);
      await session.waitForAcks(ids);
      await until(
        async () => (await metric(ingest, 'tripwire_ingest_publish_mark_failures_total')) >= 2,
        10_000,
        'marks retried',
      );
      const marked = async () =>
        (
          await env.pool.query(
            'SELECT count(*)::int AS n FROM alert_ids WHERE alert_id = ANY($1::uuid[]) AND published',
            [ids],
          )
        ).rows[0].n as number;
      expect(await marked()).toBe(0);

      await env.pool.query('DROP TRIGGER test_refuse_marks ON alert_ids');
      await until(async () => (await marked()) === ids.length, 15_000, 'marked after retry');
      expect(await metric(ingest, 'tripwire_ingest_publish_marks_dropped_total')).toBe(0);
      session.end();
      await session.status;
    } finally {
      await env.pool.query('DROP TRIGGER IF EXISTS test_refuse_marks ON alert_ids');
      client.close();
      await ingest.stop();
    }
  });
});

describe('PostgreSQL down', () => {
  it('gives agents UNAVAILABLE, acknowledges nothing unstored, and recovers by itself', async () => {
    const proxy = await proxyFor(env.databaseUrl);
    const ingest = await startIngest(env, {}, { databaseUrl: proxy.url(env.databaseUrl) });
    const client = connect(ingest.address);
    try {
      const a = await register(client, `pgdown-${randomUUID()}`);
      const session = new AgentSession(client, a.agentToken);
      const first = event(a.hostId);
      session.send([first]);
      await session.waitForAcks([first.alertId]);

      proxy.cut();
      const lost = event(a.hostId);
      session.send([lost]);
      expect(await session.status).toMatchObject({
        code: status.UNAVAILABLE,
        details: expect.stringMatching(/could not be stored/),
      });
      expect(session.acked.has(lost.alertId)).toBe(false);
      expect(await rowsFor(env, [lost.alertId])).toHaveLength(0);

      await expect(submit(client, a.agentToken, event(a.hostId))).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
      expect(await new AgentSession(client, a.agentToken).status).toMatchObject({
        code: status.UNAVAILABLE,
      });
      const ready = await fetch(`${ingest.httpUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ checks: { database: false } });

      proxy.restore();
      await until(
        async () => (await fetch(`${ingest.httpUrl}/readyz`)).status === 200,
        15_000,
        'readiness',
      );
      const retry = new AgentSession(client, a.agentToken);
      retry.send([lost, first]);
      await retry.waitForAcks([lost.alertId, first.alertId]);
      expect(await rowsFor(env, [lost.alertId, first.alertId])).toHaveLength(2);
      retry.end();
      await retry.status;
    } finally {
      client.close();
      await ingest.stop();
      await proxy.close();
    }
  });
});

describe('Redis down', () => {
  it('still stores and acknowledges, records the backlog, and publishes it all when Redis returns', async () => {
    const proxy = await proxyFor(env.redisUrl);
    const ingest = await startIngest(env, {}, { redisUrl: proxy.url(env.redisUrl) });
    const client = connect(ingest.address);
    const bus = busReader(env);
    try {
      const a = await register(client, `redisdown-${randomUUID()}`);
      const session = new AgentSession(client, a.agentToken);
      await until(() => session.commands.length > 0);
      proxy.cut();
      const events = Array.from({ length: 20 }, () => event(a.hostId));
      for (const e of events) session.send([e]);
      await session.waitForAcks(events.map((e) => e.alertId));
      expect(
        await rowsFor(
          env,
          events.map((e) => e.alertId),
        ),
      ).toHaveLength(20);
      await until(
        async () => (await metric(ingest, 'tripwire_ingest_bus_publish_failures_total')) > 0,
      );
      expect(await metric(ingest, 'tripwire_ingest_bus_backlog')).toBeGreaterThanOrEqual(20);
      expect(bus.alertIds().filter((id) => events.some((e) => e.alertId === id))).toEqual([]);

      proxy.restore();
      const ids = events.map((e) => e.alertId);
      await until(
        () => ids.every((id) => bus.alertIds().includes(id)),
        15_000,
        'backlog published',
      );
      expect(bus.alertIds().filter((id) => ids.includes(id))).toEqual(ids);
      expect(await metric(ingest, 'tripwire_ingest_bus_backlog')).toBe(0);
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

describe('graceful shutdown', () => {
  it('commits and acknowledges everything received, ends streams with UNAVAILABLE, and loses nothing', async () => {
    const ingest = await startIngest(env);
    const client = connect(ingest.address);
    const a = await register(client, `shutdown-${randomUUID()}`);
    const session = new AgentSession(client, a.agentToken, true);
    const sent: string[] = [];
    let sending = true;
    const pump = (async () => {
      while (sending) {
        const batch = Array.from({ length: 50 }, () => event(a.hostId));
        sent.push(...batch.map((e) => e.alertId));
        session.send(batch);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await until(() => session.acked.size > 500);
    const stopped = ingest.stop();
    const finalStatus = await session.status;
    sending = false;
    await pump;
    await stopped;
    client.close();

    expect(finalStatus).toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringMatching(/shutting down/),
    });
    const stored = new Set((await rowsFor(env, sent)).map((r) => r.alert_id as string));
    expect([...session.acked].filter((id) => !stored.has(id))).toEqual([]);
    expect([...stored].filter((id) => !session.acked.has(id))).toEqual([]);
    const host = await env.pool.query('SELECT status FROM hosts WHERE host_id = $1', [a.hostId]);
    expect(host.rows[0].status).toBe('offline');

    // The agent resends what was not acknowledged to the next instance: nothing is lost.
    const next = await startIngest(env);
    const client2 = connect(next.address);
    const resend = new AgentSession(client2, a.agentToken, true);
    const unacked = sent.filter((id) => !session.acked.has(id));
    for (let i = 0; i < unacked.length; i += 500) {
      resend.send(unacked.slice(i, i + 500).map((alertId) => event(a.hostId, { alertId })));
    }
    await resend.waitForAcks(unacked, 20_000);
    expect(await rowsFor(env, sent)).toHaveLength(sent.length);
    resend.end();
    await resend.status;
    client2.close();
    await next.stop();
  });
});
