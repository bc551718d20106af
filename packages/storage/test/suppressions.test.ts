import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { insertAlerts } from '../src/alert-store.js';
import { withTransaction } from '../src/pool.js';
import {
  activeSuppressionCriteria,
  createSuppression,
  expireSuppression,
  getSuppression,
  rollUpSuppressionHits,
  type SuppressionInput,
} from '../src/suppression-store.js';
import { useTestDatabase } from './test-database.js';

const t = useTestDatabase();
const input = (over: Partial<SuppressionInput> = {}): SuppressionInput => ({
  ...{ hostId: null, ruleName: 'r', tripwireType: null, severity: null, detail: [] },
  ...{ justification: 'known', expiresAt: null, ...over },
});
const alert = (suppressionId: string | null) => ({
  alertId: randomUUID(),
  hostId: randomUUID(),
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'FILE' as const,
  severity: 'WARN' as const,
  ruleName: 'r',
  eventDetailJson: '{"path":"/x"}',
  suppressionId,
});

describe('suppression store', () => {
  it('refuses a creation beyond the cap of suppressions in force; an expired one frees its place', async () => {
    const create = () => withTransaction(t.pool, (db) => createSuppression(db, input(), 'a', 2));
    const [a, b] = [await create(), await create()];
    expect(a && b).toBeTruthy();
    expect(await create()).toBeNull();
    await expireSuppression(t.pool, a!.suppressionId);
    expect(await create()).not.toBeNull();
    const active = (await activeSuppressionCriteria(t.pool)).map((c) => c.suppressionId);
    expect(active).not.toContain(a!.suppressionId);
  });

  it('stores muted alerts with their flag and no incident in the same call, counts hits exactly before and after the roll-up', async () => {
    const s = (await withTransaction(t.pool, (db) => createSuppression(db, input(), 'a', 100)))!;
    const batch = [alert(s.suppressionId), alert(null), alert(s.suppressionId)];
    const out = await insertAlerts(t.pool, batch);
    expect(out.stored.map((x) => x.alertId).sort()).toEqual(batch.map((x) => x.alertId).sort());
    expect(out.incidents.map((i) => i.alertCount)).toEqual([1]);
    // A resend of a muted alert is a duplicate, not a second hit.
    expect((await insertAlerts(t.pool, [batch[0]!])).duplicates).toEqual([batch[0]!.alertId]);
    const { rows } = await t.pool.query(
      'SELECT alert_id, suppression_id, incident_id FROM alerts WHERE alert_id = ANY($1::uuid[])',
      [batch.map((x) => x.alertId)],
    );
    const muted = rows.filter((r) => r.suppression_id === s.suppressionId);
    expect(muted).toHaveLength(2);
    expect(muted.every((r) => r.incident_id === null)).toBe(true);
    expect((await getSuppression(t.pool, s.suppressionId))!.hitCount).toBe(2);
    await rollUpSuppressionHits(t.pool);
    expect((await getSuppression(t.pool, s.suppressionId))!.hitCount).toBe(2);
    const waiting = await t.pool.query('SELECT count(*)::int AS n FROM suppression_hits');
    expect(waiting.rows[0].n).toBe(0);
  });
});
