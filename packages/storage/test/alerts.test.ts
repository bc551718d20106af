import { describe, expect, it } from 'vitest';
import { AlertBatcher } from '../src/alert-batcher.js';
import { getAlertsById, InvalidQueryError, insertAlerts, queryAlerts } from '../src/alert-store.js';
import type { Severity } from '../src/models.js';
import { useTestDatabase } from './test-database.js';
import { newAlert as alert, newHost as newHostIn } from './test-rows.js';

const t = useTestDatabase();
const newHost = (name?: string) => newHostIn(t.pool, name);

const countAlerts = async (ids: string[]) =>
  Number(
    (await t.pool.query('SELECT count(*) AS n FROM alerts WHERE alert_id = ANY($1::uuid[])', [ids]))
      .rows[0].n,
  );

describe('insertAlerts', () => {
  it('stores new alerts and reports resends as duplicates', async () => {
    const host = await newHost();
    const a = alert(host.hostId);
    const b = alert(host.hostId);
    const first = await insertAlerts(t.pool, [a, b]);
    expect(first.stored.map((s) => s.alertId)).toEqual([a.alertId, b.alertId]);
    expect(first.duplicates).toEqual([]);

    const again = await insertAlerts(t.pool, [b, a, b]);
    expect(again.stored).toEqual([]);
    expect(again.duplicates).toEqual([b.alertId, a.alertId, b.alertId]);
    expect(await countAlerts([a.alertId, b.alertId])).toBe(2);
  });

  it('never stores a resend twice, even when it would land in another month', async () => {
    const host = await newHost();
    const a = alert(host.hostId);
    const threeMonthsAgo = new Date(Date.now() - 92 * 24 * 3600 * 1000);
    await insertAlerts(t.pool, [a], threeMonthsAgo);
    const resend = await insertAlerts(t.pool, [a]);
    expect(resend.duplicates).toEqual([a.alertId]);
    expect(await countAlerts([a.alertId])).toBe(1);
    const [stored] = await getAlertsById(t.pool, [a.alertId]);
    expect(stored?.receivedAt.getTime()).toBe(threeMonthsAgo.getTime());
  });

  it('keeps concurrent writers of the same alert to one row', async () => {
    const host = await newHost();
    const a = alert(host.hostId);
    const results = await Promise.all(Array.from({ length: 8 }, () => insertAlerts(t.pool, [a])));
    expect(results.filter((r) => r.stored.length === 1)).toHaveLength(1);
    expect(await countAlerts([a.alertId])).toBe(1);
  });

  it('round-trips event_detail JSONB without loss, and stores empty detail as NULL', async () => {
    const host = await newHost();
    const detail = {
      path: '/etc/shadow',
      pid: 1234,
      nested: { uids: [0, 1000], ok: false, note: 'quote " and \\ and ünïcode ✓' },
      nothing: null,
    };
    const withDetail = alert(host.hostId, { eventDetailJson: JSON.stringify(detail) });
    const withoutDetail = alert(host.hostId, { eventDetailJson: null });
    await insertAlerts(t.pool, [withDetail, withoutDetail]);
    const rows = await getAlertsById(t.pool, [withDetail.alertId, withoutDetail.alertId]);
    const byId = new Map(rows.map((r) => [r.alertId, r]));
    expect(byId.get(withDetail.alertId)?.eventDetail).toEqual(detail);
    expect(byId.get(withoutDetail.alertId)?.eventDetail).toBeNull();
    const raw = await t.pool.query(
      'SELECT event_detail IS NULL AS is_null FROM alerts WHERE alert_id = $1',
      [withoutDetail.alertId],
    );
    expect(raw.rows[0].is_null).toBe(true);
  });

  it('keeps the sensor timestamp to the microsecond', async () => {
    const host = await newHost();
    const a = alert(host.hostId, { occurredAtUs: 1_767_225_600_123_456 });
    await insertAlerts(t.pool, [a]);
    const [row] = await getAlertsById(t.pool, [a.alertId]);
    expect(row?.occurredAtUs).toBe(1_767_225_600_123_456);
  });
});

describe('queryAlerts', () => {
  it('filters by severity, type and host inside the time range, newest first', async () => {
    const host = await newHost();
    const other = await newHost();
    const severities: Severity[] = ['INFO', 'WARN', 'CRITICAL', 'CRITICAL'];
    const mine = severities.map((severity) => alert(host.hostId, { severity }));
    for (const a of mine) await insertAlerts(t.pool, [a]);
    await insertAlerts(t.pool, [alert(other.hostId, { severity: 'CRITICAL' })]);
    await insertAlerts(t.pool, [
      alert(host.hostId, { severity: 'CRITICAL', tripwireType: 'NETWORK' }),
    ]);

    const from = new Date(Date.now() - 60_000);
    const to = new Date(Date.now() + 60_000);
    const page = await queryAlerts(t.pool, {
      from,
      to,
      hostId: host.hostId,
      severities: ['CRITICAL'],
      tripwireTypes: ['FILE'],
    });
    expect(page.alerts.map((a) => a.alertId)).toEqual([mine[3]!.alertId, mine[2]!.alertId]);
    expect(page.nextCursor).toBeNull();

    const outside = await queryAlerts(t.pool, {
      from: new Date(Date.now() - 7_200_000),
      to: new Date(Date.now() - 3_600_000),
      hostId: host.hostId,
    });
    expect(outside.alerts).toEqual([]);
  });

  it('pages by cursor without gaps or repeats', async () => {
    const host = await newHost();
    const all = Array.from({ length: 25 }, () => alert(host.hostId));
    for (const chunk of [all.slice(0, 10), all.slice(10, 20), all.slice(20)]) {
      await insertAlerts(t.pool, chunk);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    const range = { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) };
    do {
      const page = await queryAlerts(t.pool, { ...range, hostId: host.hostId, limit: 7, cursor });
      seen.push(...page.alerts.map((a) => a.alertId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen)).toEqual(new Set(all.map((a) => a.alertId)));
  });

  it('refuses a query without a time range, and a forged cursor', async () => {
    await expect(
      queryAlerts(t.pool, { from: undefined as unknown as Date, to: new Date() }),
    ).rejects.toThrow(InvalidQueryError);
    await expect(
      queryAlerts(t.pool, { from: new Date(0), to: new Date(), cursor: 'bm9wZQ' }),
    ).rejects.toThrow(/cursor/);
    await expect(
      queryAlerts(t.pool, { from: new Date(0), to: new Date(), limit: 5000 }),
    ).rejects.toThrow(/limit/);
  });
});

describe('AlertBatcher', () => {
  it('flushes as soon as the size threshold is reached, well before the timer', async () => {
    const host = await newHost();
    const flushes: number[] = [];
    const batcher = new AlertBatcher({
      db: t.pool,
      maxBatchSize: 5,
      maxDelayMs: 60_000,
      onFlush: ({ size }) => flushes.push(size),
    });
    const alerts = Array.from({ length: 5 }, () => alert(host.hostId));
    const result = await batcher.submit(alerts);
    expect(result.stored).toHaveLength(5);
    expect(flushes).toEqual([5]);
    expect(await countAlerts(alerts.map((a) => a.alertId))).toBe(5);
  });

  it('flushes a partial batch when the timer fires', async () => {
    const host = await newHost();
    const flushes: number[] = [];
    const batcher = new AlertBatcher({
      db: t.pool,
      maxBatchSize: 100,
      maxDelayMs: 50,
      onFlush: ({ size }) => flushes.push(size),
    });
    const alerts = [alert(host.hostId), alert(host.hostId)];
    const pending = batcher.submit(alerts);
    expect(await countAlerts(alerts.map((a) => a.alertId))).toBe(0);
    await pending;
    expect(flushes).toEqual([2]);
    expect(await countAlerts(alerts.map((a) => a.alertId))).toBe(2);
  });

  it('flush() writes everything queued now', async () => {
    const host = await newHost();
    const batcher = new AlertBatcher({ db: t.pool, maxBatchSize: 1000, maxDelayMs: 60_000 });
    const alerts = [alert(host.hostId), alert(host.hostId), alert(host.hostId)];
    const pending = batcher.submit(alerts);
    await batcher.flush();
    expect(await countAlerts(alerts.map((a) => a.alertId))).toBe(3);
    expect((await pending).stored).toHaveLength(3);
    expect(batcher.pending).toBe(0);
  });

  it('splits large submissions into batches and reports duplicates per group', async () => {
    const host = await newHost();
    const flushes: number[] = [];
    const batcher = new AlertBatcher({
      db: t.pool,
      maxBatchSize: 10,
      maxDelayMs: 10,
      onFlush: ({ size }) => flushes.push(size),
    });
    const alerts = Array.from({ length: 25 }, () => alert(host.hostId));
    const [first, second] = await Promise.all([
      batcher.submit(alerts),
      batcher.submit(alerts.slice(0, 3)),
    ]);
    expect(first.stored).toHaveLength(25);
    expect(second.duplicates).toEqual(alerts.slice(0, 3).map((a) => a.alertId));
    expect(flushes).toEqual([10, 10, 8]);
  });

  it('rejects the waiting submissions when the database refuses the batch', async () => {
    const batcher = new AlertBatcher({ db: t.pool, maxBatchSize: 1, maxDelayMs: 1 });
    await expect(batcher.submit([alert('not-a-uuid')])).rejects.toThrow(/uuid/);
  });
});
