import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { getAlertsById, insertAlerts } from '../src/alert-store.js';
import { getIncident, resolveIncident } from '../src/incident-store.js';
import { migrateDatabase } from '../src/migrate.js';
import {
  dropAlertPartitionsBefore,
  ensureAlertPartitions,
  listAlertPartitions,
} from '../src/partitions.js';
import { useTestDatabase } from './test-database.js';

const t = useTestDatabase();

const monthName = (d: Date) =>
  `alerts_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
const monthsFromNow = (n: number) => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 15));
};
const newAlert = () => ({
  alertId: randomUUID(),
  hostId: randomUUID(),
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'PROCESS' as const,
  severity: 'INFO' as const,
  ruleName: 'r',
  eventDetailJson: null,
});

const partitionOf = async (alertId: string) =>
  (
    await t.pool.query('SELECT tableoid::regclass::text AS part FROM alerts WHERE alert_id = $1', [
      alertId,
    ])
  ).rows[0]?.part;

describe('alert partitions', () => {
  it('exist for this month and the next two after migrating', async () => {
    const parts = await listAlertPartitions(t.pool);
    for (const n of [0, 1, 2]) expect(parts).toContain(monthName(monthsFromNow(n)));
    expect(parts).toContain('alerts_default');
    expect(await ensureAlertPartitions(t.pool)).toBe(0);
  });

  it('catch rows outside every month in the default partition, and adopt them when the month is created', async () => {
    const farFuture = monthsFromNow(14);
    const a = newAlert();
    await insertAlerts(t.pool, [a], farFuture);
    expect(await partitionOf(a.alertId)).toBe('alerts_default');

    await ensureAlertPartitions(t.pool, 14);
    expect(await partitionOf(a.alertId)).toBe(monthName(farFuture));
    expect(await getAlertsById(t.pool, [a.alertId])).toHaveLength(1);
  });

  it('is safe when many callers ensure partitions at once', async () => {
    const created = await Promise.all(
      Array.from({ length: 6 }, () => ensureAlertPartitions(t.pool, 20)),
    );
    expect(created.filter((n) => n > 0)).toHaveLength(1);
  });

  it('retention drops whole old months and forgets their idempotency keys', async () => {
    const old = monthsFromNow(-6);
    await t.pool.query('SELECT ensure_alert_partition($1::date)', [old]);
    const a = newAlert();
    await insertAlerts(t.pool, [a], old);
    expect(await partitionOf(a.alertId)).toBe(monthName(old));

    const dropped = await dropAlertPartitionsBefore(t.pool, monthsFromNow(-3));
    expect(dropped).toContain(monthName(old));
    expect(await getAlertsById(t.pool, [a.alertId])).toEqual([]);
    const ledger = await t.pool.query('SELECT 1 FROM alert_ids WHERE alert_id = $1', [a.alertId]);
    expect(ledger.rowCount).toBe(0);
    expect(await listAlertPartitions(t.pool)).toContain(monthName(monthsFromNow(0)));
  });

  it('retention removes closed incidents whose alerts are gone and keeps open ones', async () => {
    const old = monthsFromNow(-6);
    await t.pool.query('SELECT ensure_alert_partition($1::date)', [old]);
    const closed = newAlert();
    const open = newAlert();
    await insertAlerts(t.pool, [closed, open], old);
    const incidentOf = async (alertId: string) =>
      (await t.pool.query('SELECT incident_id FROM alerts WHERE alert_id = $1', [alertId])).rows[0]!
        .incident_id as string;
    const closedIncident = await incidentOf(closed.alertId);
    const openIncident = await incidentOf(open.alertId);
    await resolveIncident(
      t.pool,
      closedIncident,
      { resolutionMethod: 'MANUAL', rootCause: 'test' },
      { actor: 'retention-test' },
    );

    await dropAlertPartitionsBefore(t.pool, monthsFromNow(-3));
    expect(await getIncident(t.pool, closedIncident)).toBeNull();
    expect((await getIncident(t.pool, openIncident))?.state).toBe('OPEN');
  });
});

describe('migrations', () => {
  it('apply exactly once when several instances start at the same moment', async () => {
    const admin = new pg.Client({ connectionString: t.databaseUrl });
    await admin.connect();
    const name = `tripwire_mig_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(t.databaseUrl);
    url.pathname = `/${name}`;
    try {
      const results = await Promise.all(
        Array.from({ length: 4 }, () => migrateDatabase({ databaseUrl: url.toString() })),
      );
      const appliedCounts = results.map((r) => r.applied.length);
      expect(appliedCounts.reduce((a, b) => a + b, 0)).toBe(Math.max(...appliedCounts));
      const check = new pg.Client({ connectionString: url.toString() });
      await check.connect();
      const { rows } = await check.query('SELECT count(*)::int AS n FROM pgmigrations');
      expect(rows[0].n).toBe(Math.max(...appliedCounts));
      await check.end();
    } finally {
      const c = new pg.Client({ connectionString: t.databaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    }
  });
});
