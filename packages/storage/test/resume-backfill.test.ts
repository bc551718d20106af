import { describe, expect, it } from 'vitest';
import { insertAlerts } from '../src/alert-store.js';
import { markAlertsPublished } from '../src/publish-ledger.js';
import {
  type AlertKeyset,
  type RowSelector,
  type SeenThrough,
  storedAlertsPage,
} from '../src/resume-backfill.js';
import { useTestDatabase } from './test-database.js';
import { newAlert as alert, newHost } from './test-rows.js';

const t = useTestDatabase();
const any: RowSelector = { severities: [], tripwireTypes: [], hostIds: [] };

/** Every page of the range, `limit` rows at a time, as the backfill reads them. */
async function allPages(fromUs: number, selectors: RowSelector[], limit: number) {
  const ids: string[] = [];
  let after: AlertKeyset | null = null;
  for (;;) {
    const page = await storedAlertsPage(t.pool, {
      fromUs,
      untilUs: Date.now() * 1000 + 1,
      after,
      selectors,
      limit,
    });
    ids.push(...page.map((a) => a.alertId));
    const last = page.at(-1);
    if (page.length < limit || !last) return ids;
    after = { receivedUs: last.receivedUs, occurredUs: last.occurredAtUs, alertId: last.alertId };
  }
}

describe('storedAlertsPage', () => {
  it('pages through a range in stored order (flush, then sensor time), each row once, filtered by any selector', async () => {
    const [web, db] = [await newHost(t.pool), await newHost(t.pool)];
    const start = Date.now() - 60_000;
    const flush = async (n: number, at: number) => {
      // Sensor times rise within a flush while alert ids are random: the order comes from occurred_at.
      const batch = Array.from({ length: n }, (_, i) =>
        alert(i % 2 ? db.hostId : web.hostId, {
          occurredAtUs: (start + at) * 1000 + i,
          severity: i % 3 === 0 ? 'CRITICAL' : 'INFO',
          tripwireType: i % 4 === 0 ? 'NETWORK' : 'FILE',
        }),
      );
      await insertAlerts(t.pool, batch, new Date(start + at));
      return batch;
    };
    const before = await flush(3, 0);
    const flushes = [await flush(7, 1000), await flush(5, 2000), await flush(6, 3000)];
    const stored = flushes.flat();
    const fromUs = (start + 1000) * 1000;

    expect(await allPages(fromUs, [any], 4)).toEqual(stored.map((a) => a.alertId));
    expect(await allPages(fromUs, [any], 4)).not.toContain(before[0]!.alertId);
    const selectors: RowSelector[] = [
      { ...any, severities: ['CRITICAL'] },
      { ...any, hostIds: [db.hostId], tripwireTypes: ['NETWORK'] },
    ];
    const wanted = stored.filter(
      (a) => a.severity === 'CRITICAL' || (a.hostId === db.hostId && a.tripwireType === 'NETWORK'),
    );
    expect(await allPages(fromUs, selectors, 2)).toEqual(wanted.map((a) => a.alertId));
    expect(await allPages(fromUs, [], 2)).toEqual([]);
  });
});

describe('storedAlertsPage with the browser position', () => {
  it('leaves out exactly the alerts the ledger records at or before it, and says which rows are not marked yet', async () => {
    const host = await newHost(t.pool);
    const start = Date.now() - 60_000;
    const batch = Array.from({ length: 8 }, (_, i) =>
      alert(host.hostId, { occurredAtUs: start * 1000 + i }),
    );
    await insertAlerts(t.pool, batch.slice(0, 7), new Date(start));
    // Received well after the position's time: not looked up, whatever its mark says.
    await insertAlerts(t.pool, batch.slice(7), new Date(start + 10_000));
    const [had1, had2, after, otherEpoch, unmarked, legacy, hadAtEdge, late] = batch.map(
      (a) => a.alertId,
    );
    const mark = (alertId: string | undefined, busEpoch: string, busOffset: bigint) => ({
      alertId: alertId!,
      busEpoch,
      busOffset,
    });
    await markAlertsPublished(t.pool, [
      mark(had1, 'epocha', 3n),
      mark(had2, 'epocha', 4n),
      mark(hadAtEdge, 'epocha', 5n),
      mark(after, 'epocha', 6n),
      mark(otherEpoch, 'epochb', 1n),
      mark(late, 'epocha', 2n),
    ]);
    // Marked before positions were recorded (migration 0013): published, no position.
    await t.pool.query('UPDATE alert_ids SET published = true WHERE alert_id = $1', [legacy]);

    const page = (seen: SeenThrough | null) =>
      storedAlertsPage(t.pool, {
        fromUs: start * 1000,
        untilUs: Date.now() * 1000,
        after: null,
        selectors: [{ ...any, hostIds: [host.hostId] }],
        limit: 100,
        seen,
      });
    const seen = { epoch: 'epocha', offset: 5n, lookUpBeforeUs: (start + 5_000) * 1000 };
    const rows = await page(seen);
    expect(rows.map((r) => r.alertId)).toEqual([after, otherEpoch, unmarked, legacy, late]);
    expect(rows.filter((r) => r.unmarked).map((r) => r.alertId)).toEqual([unmarked]);
    // An offset beyond bigint (a position may have 20 digits) is past every recorded one.
    const huge = await page({ ...seen, offset: 10n ** 20n - 1n });
    expect(huge.map((r) => r.alertId)).toEqual([otherEpoch, unmarked, legacy, late]);
    // Without a position (an epoch-less `since`), every row, by time, as before.
    expect((await page(null)).map((r) => r.alertId)).toEqual(batch.map((a) => a.alertId));
  });
});
