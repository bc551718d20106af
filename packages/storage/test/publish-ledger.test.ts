import { describe, expect, it } from 'vitest';
import { insertAlerts } from '../src/alert-store.js';
import { markAlertsPublished, unpublishedAlertIds } from '../src/publish-ledger.js';
import { useTestDatabase } from './test-database.js';
import { newAlert, newHost } from './test-rows.js';

const t = useTestDatabase();

describe('the ledger of published alerts', () => {
  it('reports every stored alert not marked published, whatever its age, until it is marked', async () => {
    const host = await newHost(t.pool);
    const old = newAlert(host.hostId);
    const fresh = newAlert(host.hostId);
    const monthsAgo = new Date(Date.now() - 62 * 24 * 3600 * 1000);
    await insertAlerts(t.pool, [old], monthsAgo);
    const { stored } = await insertAlerts(t.pool, [fresh]);
    const ids = [old.alertId, fresh.alertId];

    const before = await unpublishedAlertIds(t.pool, ids);
    expect(before).toEqual(
      new Map([
        [old.alertId, monthsAgo],
        [fresh.alertId, stored[0]!.receivedAt],
      ]),
    );
    // Marking twice, or an id never stored, changes nothing more.
    const at = (alertId: string, busOffset: bigint) => ({ alertId, busEpoch: 'e1', busOffset });
    expect(
      await markAlertsPublished(t.pool, [at(fresh.alertId, 7n), at(crypto.randomUUID(), 8n)]),
    ).toBe(1);
    expect(await markAlertsPublished(t.pool, [at(fresh.alertId, 9n)])).toBe(0);
    expect([...(await unpublishedAlertIds(t.pool, ids)).keys()]).toEqual([old.alertId]);
    expect(await unpublishedAlertIds(t.pool, [])).toEqual(new Map());
    expect(await markAlertsPublished(t.pool, [])).toBe(0);
    // The first mark's position stays: it is where the browser may have seen the alert.
    expect(await positions(ids)).toEqual([
      { alert_id: old.alertId, bus_epoch: null, bus_offset: null },
      { alert_id: fresh.alertId, bus_epoch: 'e1', bus_offset: '7' },
    ]);
  });

  it('records each alert of one UPDATE at its own position, offsets beyond 2^53 exact', async () => {
    const host = await newHost(t.pool);
    const batch = Array.from({ length: 3 }, () => newAlert(host.hostId));
    await insertAlerts(t.pool, batch);
    const big = 2n ** 60n;
    const marks = batch.map((a, i) => ({
      alertId: a.alertId,
      busEpoch: i === 2 ? 'later' : 'e2',
      busOffset: big + BigInt(i),
    }));
    expect(await markAlertsPublished(t.pool, marks)).toBe(3);
    expect(await positions(batch.map((a) => a.alertId))).toEqual(
      marks.map((m) => ({
        alert_id: m.alertId,
        bus_epoch: m.busEpoch,
        bus_offset: m.busOffset.toString(),
      })),
    );
  });
});

/** The ledger's recorded positions of these alerts, in this order. */
async function positions(ids: string[]) {
  const { rows } = await t.pool.query<{
    alert_id: string;
    bus_epoch: string | null;
    bus_offset: string | null;
  }>(
    `SELECT alert_id::text, bus_epoch, bus_offset::text FROM alert_ids
     WHERE alert_id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], alert_id)`,
    [ids],
  );
  return rows;
}
