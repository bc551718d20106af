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
    expect(await markAlertsPublished(t.pool, [fresh.alertId, crypto.randomUUID()])).toBe(1);
    expect(await markAlertsPublished(t.pool, [fresh.alertId])).toBe(0);
    expect([...(await unpublishedAlertIds(t.pool, ids)).keys()]).toEqual([old.alertId]);
    expect(await unpublishedAlertIds(t.pool, [])).toEqual(new Map());
    expect(await markAlertsPublished(t.pool, [])).toBe(0);
  });
});
