import { until } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import { insertAlerts } from '../src/alert-store.js';
import { resolveIncident } from '../src/incident-store.js';
import {
  claimDueDeliveries,
  deliveryQueueStats,
  listDeliveries,
  markDeliveriesDelivered,
  markDeliveriesFailed,
  reserveRouteBudget,
  retryDeadDelivery,
} from '../src/notification-queue.js';
import {
  createNotificationRoute,
  getNotificationRoute,
  type NotificationRouteInput,
  updateNotificationRoute,
} from '../src/notification-routes.js';
import { useTestDatabase } from './test-database.js';
import { newAlert, newHost } from './test-rows.js';

const t = useTestDatabase();

const routeInput = (over: Partial<NotificationRouteInput> = {}): NotificationRouteInput => ({
  name: `route-${Math.random().toString(36).slice(2)}`,
  enabled: true,
  events: ['opened', 'escalated', 'resolved'],
  minSeverity: 'INFO',
  hostIds: null,
  tripwireTypes: null,
  ruleNames: null,
  kind: 'webhook',
  config: { url: 'http://127.0.0.1:1/hook' },
  secrets: { secret: 'hmac-key' },
  template: null,
  throttlePerMinute: null,
  ...over,
});

const keysOf = async (routeId: string) =>
  (await listDeliveries(t.pool, { routeId, limit: 100 })).map((d) => d.eventKey).sort();

describe('enqueue in the transaction of the change', () => {
  it('queues opened, escalated and resolved once per matching route, and nothing for others', async () => {
    const host = await newHost(t.pool);
    const all = await createNotificationRoute(
      t.pool,
      routeInput({ hostIds: [host.hostId] }),
      'alice',
    );
    const critOnly = await createNotificationRoute(
      t.pool,
      routeInput({ hostIds: [host.hostId], minSeverity: 'CRITICAL', events: ['opened'] }),
      'alice',
    );
    const otherRule = await createNotificationRoute(
      t.pool,
      routeInput({ hostIds: [host.hostId], ruleNames: ['something-else'] }),
      'alice',
    );
    await insertAlerts(t.pool, [newAlert(host.hostId)]);
    await insertAlerts(t.pool, [newAlert(host.hostId)]); // joins: no new event
    await insertAlerts(t.pool, [newAlert(host.hostId, { severity: 'CRITICAL' })]);
    const [{ incident_id }] = (
      await t.pool.query('SELECT incident_id FROM incidents WHERE host_id = $1', [host.hostId])
    ).rows;
    await resolveIncident(
      t.pool,
      incident_id,
      { resolutionMethod: 'MANUAL', rootCause: 'test' },
      { actor: 'alice' },
    );
    const keys = await keysOf(all.routeId);
    expect(keys).toHaveLength(3);
    expect(keys[0]).toBe(`incident:${incident_id}:escalated:CRITICAL`);
    expect(keys[1]).toBe(`incident:${incident_id}:opened`);
    expect(keys[2]).toMatch(new RegExp(`^incident:${incident_id}:resolved:`));
    expect(await keysOf(critOnly.routeId)).toEqual([]); // opened at WARN
    expect(await keysOf(otherRule.routeId)).toEqual([]);
    const [opened] = await listDeliveries(t.pool, { routeId: all.routeId, limit: 1 });
    expect(opened?.event).toMatchObject({ hostname: host.hostname, rule_name: 'etc-passwd-watch' });
  });

  it('queues single alerts for a route that asks for them', async () => {
    const host = await newHost(t.pool);
    const route = await createNotificationRoute(
      t.pool,
      routeInput({ hostIds: [host.hostId], events: ['alert'], minSeverity: 'WARN' }),
      'alice',
    );
    const loud = newAlert(host.hostId);
    await insertAlerts(t.pool, [loud, newAlert(host.hostId, { severity: 'INFO' })]);
    await insertAlerts(t.pool, [loud]); // a resend is not stored, so not queued again
    expect(await keysOf(route.routeId)).toEqual([`alert:${loud.alertId}`]);
  });
});

describe('the queue', () => {
  it('never hands one row to two workers, and a lost lease comes back', async () => {
    const host = await newHost(t.pool);
    await createNotificationRoute(t.pool, routeInput({ hostIds: [host.hostId] }), 'a');
    for (let i = 0; i < 5; i++)
      await insertAlerts(t.pool, [newAlert(host.hostId, { ruleName: `r${i}` })]);
    // Worker A has claimed in a transaction not yet committed; worker B claims meanwhile.
    const a = await t.pool.connect();
    const b = await t.pool.connect();
    try {
      await a.query('BEGIN');
      const mine = await claimDueDeliveries(a, 100, 0.2);
      expect(mine.length).toBeGreaterThanOrEqual(5);
      const { rows } = await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      let bDone = false;
      const theirs = claimDueDeliveries(b, 100, 0.2).finally(() => {
        bDone = true;
      });
      // B has either answered (skipping A's rows) or is stuck waiting for A's row locks.
      await until(
        async () =>
          bDone ||
          (
            await t.pool.query('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [
              rows[0]!.pid,
            ])
          ).rows[0]?.wait_event_type === 'Lock',
      );
      await a.query('COMMIT');
      const mineIds = new Set(mine.map((d) => d.deliveryId));
      expect((await theirs).filter((d) => mineIds.has(d.deliveryId))).toEqual([]);
    } finally {
      a.release();
      b.release();
    }
    // Nobody marks them: after the lease they are due again, as a second attempt.
    let again: Awaited<ReturnType<typeof claimDueDeliveries>> = [];
    while (again.length === 0) again = await claimDueDeliveries(t.pool, 100, 60);
    expect(again[0]?.attempts).toBe(2);
    // The first lease's holder can no longer mark it (fenced by the attempt); the new one can.
    const stale = { deliveryId: again[0]!.deliveryId, attempts: 1 };
    expect(await markDeliveriesDelivered(t.pool, [stale])).toBe(0);
    expect(await markDeliveriesDelivered(t.pool, [again[0]!])).toBe(1);
  });

  it('retries with the policy delay, then dead-letters, and an operator retry revives it', async () => {
    const host = await newHost(t.pool);
    const route = await createNotificationRoute(
      t.pool,
      routeInput({ hostIds: [host.hostId] }),
      'a',
    );
    await insertAlerts(t.pool, [newAlert(host.hostId)]);
    const policy = { maxAttempts: 2, maxAgeS: 3600, delayS: () => 0 };
    const claimMine = async () =>
      (await claimDueDeliveries(t.pool, 1000, 60)).filter((d) => d.routeId === route.routeId);
    const first = await claimMine();
    expect(await markDeliveriesFailed(t.pool, first, 'refused', policy)).toBe(0);
    const second = await claimMine();
    expect(second[0]?.attempts).toBe(2);
    expect(await markDeliveriesFailed(t.pool, second, 'refused', policy)).toBe(1);
    const [dead] = await listDeliveries(t.pool, {
      routeId: route.routeId,
      state: 'dead',
      limit: 5,
    });
    expect(dead?.lastError).toBe('refused');
    expect((await deliveryQueueStats(t.pool)).dead).toBeGreaterThanOrEqual(1);
    expect((await retryDeadDelivery(t.pool, dead!.deliveryId))?.state).toBe('pending');
    expect(await retryDeadDelivery(t.pool, dead!.deliveryId)).toBeNull(); // not dead any more
    expect((await claimMine())[0]?.attempts).toBe(1);
  });

  it('grants a throttled route at most its budget a minute, shared by callers', async () => {
    const route = await createNotificationRoute(t.pool, routeInput({ throttlePerMinute: 3 }), 'a');
    const grants = await Promise.all(
      [1, 2, 3].map(() => reserveRouteBudget(t.pool, route.routeId, 2)),
    );
    expect(grants.map((g) => g.granted).reduce((x, y) => x + y)).toBe(3);
    expect((await reserveRouteBudget(t.pool, route.routeId, 5)).granted).toBe(0);
  });

  it('keeps secrets out of the route as read back, and keeps them on update unless given', async () => {
    const route = await createNotificationRoute(t.pool, routeInput(), 'a');
    expect(route).not.toHaveProperty('secrets');
    expect(route.secretNames).toEqual(['secret']);
    const updated = await updateNotificationRoute(
      t.pool,
      route.routeId,
      routeInput({ secrets: {} }),
    );
    expect(updated?.secretNames).toEqual(['secret']);
    expect(JSON.stringify(await getNotificationRoute(t.pool, route.routeId))).not.toContain(
      'hmac-key',
    );
  });
});
