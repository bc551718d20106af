import { randomUUID } from 'node:crypto';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import {
  createSuppression,
  expireSuppression,
  getSuppression,
  listIncidents,
  rollUpSuppressionHits,
  type SuppressionInput,
  withTransaction,
} from '@tripwire/storage';
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
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let control: BusPublisher;

beforeAll(async () => {
  ingest = await startIngest(env, { BATCH_MAX_DELAY_MS: '2' });
  control = new BusPublisher({
    redis: createRedisClient(env.redisUrl, { failFastWhileDisconnected: true }),
    keyPrefix: env.keyPrefix,
    stream: 'control',
  });
});
afterAll(async () => {
  await ingest?.stop();
});

const activeInCache = async () =>
  (await ingest.server.metrics.suppressionsActive.get()).values[0]?.value ?? 0;

/** Creates a suppression the way the REST API does, and announces it on the control stream. */
async function mute(input: Partial<SuppressionInput>) {
  const s = await withTransaction(env.pool, (db) =>
    createSuppression(
      db,
      {
        ...{ hostId: null, ruleName: null, tripwireType: null, severity: null, detail: [] },
        ...{ justification: 'known noise', expiresAt: null },
        ...input,
      },
      'alice',
      100,
    ),
  );
  control.publish([
    { type: 'suppressions', data: { suppression_id: s!.suppressionId, change: 'created' } },
  ]);
  return s!;
}

async function agent(name: string) {
  const client = connect(ingest.address);
  const reg = await register(client, `${name}-${randomUUID().slice(0, 8)}`);
  return { ...reg, session: new AgentSession(client, reg.agentToken, true) };
}

describe('suppressions at ingest', () => {
  it('stores, acks and flags a matching alert, keeps it out of incidents, counts the hit; a change reaches the running ingest', async () => {
    const bus = busReader(env);
    const a = await agent('mute');
    const before = await activeInCache();
    const s = await mute({
      hostId: a.hostId,
      ruleName: 'cron-watch',
      detail: [{ path: ['file', 'path'], op: 'prefix', value: '/etc/cron.d/' }],
    });
    await until(async () => (await activeInCache()) === before + 1, 5_000, 'the cache reload');
    const muted = event(a.hostId, {
      ruleName: 'cron-watch',
      eventDetailJson: JSON.stringify({ file: { path: '/etc/cron.d/backup' } }),
    });
    const loud = event(a.hostId, {
      ruleName: 'cron-watch',
      eventDetailJson: JSON.stringify({ file: { path: '/etc/crontab' } }),
    });
    a.session.send([muted, loud]);
    await a.session.waitForAcks([muted.alertId, loud.alertId]);
    const rows = await rowsFor(env, [muted.alertId, loud.alertId]);
    const row = (id: string) => rows.find((r) => r.alert_id === id);
    expect(row(muted.alertId)).toMatchObject({
      suppression_id: s.suppressionId,
      incident_id: null,
    });
    expect(row(loud.alertId)).toMatchObject({ suppression_id: null });
    const { incidents } = await listIncidents(env.pool, { hostId: a.hostId });
    expect(incidents.map((i) => i.alertCount)).toEqual([1]);
    expect(incidents[0]!.incidentId).toBe(row(loud.alertId).incident_id);
    // On the bus with its flag (the fan-out decides who sees it).
    await until(() => bus.alertIds().includes(muted.alertId), 5_000, 'the bus message');
    const message = bus.entries.find(
      (e) => e.message.type === 'alert' && e.message.data.alert_id === muted.alertId,
    )!.message;
    expect(message.type === 'alert' && message.data.suppression_id).toBe(s.suppressionId);
    expect((await getSuppression(env.pool, s.suppressionId))!.hitCount).toBe(1);
    await rollUpSuppressionHits(env.pool);
    const rolled = (await getSuppression(env.pool, s.suppressionId))!;
    expect(rolled.hitCount).toBe(1);
    expect(rolled.lastHitAt).toEqual(row(muted.alertId).received_at);

    // Expired early by an operator: the running ingest stops muting.
    await expireSuppression(env.pool, s.suppressionId);
    control.publish([
      { type: 'suppressions', data: { suppression_id: s.suppressionId, change: 'expired' } },
    ]);
    await until(async () => (await activeInCache()) === before, 5_000, 'the cache reload');
    const after = event(a.hostId, {
      ruleName: 'cron-watch',
      eventDetailJson: muted.eventDetailJson,
    });
    a.session.send([after]);
    await a.session.waitForAcks([after.alertId]);
    expect((await rowsFor(env, [after.alertId]))[0]).toMatchObject({ suppression_id: null });
    a.session.end();
    bus.stop();
  });

  it('honours an expiry time without any reload', async () => {
    const a = await agent('expiry');
    const before = await activeInCache();
    const expiresAt = new Date(Date.now() + 3_000);
    await mute({ hostId: a.hostId, expiresAt });
    await until(async () => (await activeInCache()) === before + 1, 2_500, 'the cache reload');
    await until(() => Date.now() > expiresAt.getTime() + 10, 5_000, 'the expiry');
    const late = event(a.hostId);
    a.session.send([late]);
    await a.session.waitForAcks([late.alertId]);
    expect((await rowsFor(env, [late.alertId]))[0]).toMatchObject({ suppression_id: null });
    a.session.end();
  });
});
