import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { insertAlerts } from '../src/alert-store.js';
import { verifyAuditChain } from '../src/audit-log.js';
import { INCIDENT_TRANSITIONS, InvalidTransitionError } from '../src/incident-states.js';
import {
  createIncident,
  getIncident,
  IncidentConflictError,
  IncidentValidationError,
  listIncidentAlerts,
  listIncidents,
  resolveIncident,
  updateIncident,
} from '../src/incident-store.js';
import {
  INCIDENT_STATES,
  type Incident,
  type IncidentState,
  type SEVERITIES,
} from '../src/models.js';
import { createPool } from '../src/pool.js';
import { useTestDatabase } from './test-database.js';
import { newAlert as alert, newHost as newHostIn } from './test-rows.js';

const t = useTestDatabase();
const newHost = (name?: string) => newHostIn(t.pool, name);

const incidentsOf = async (hostId: string) =>
  (await listIncidents(t.pool, { hostId, limit: 500 })).incidents;

const auditOf = async (incidentId: string) =>
  (
    await t.pool.query<{ actor: string; action: string; details: Record<string, unknown> }>(
      'SELECT actor, action, details FROM audit_entries WHERE target = $1 ORDER BY seq',
      [incidentId],
    )
  ).rows;

const operator = { actor: 'alice' };

describe('correlation at ingest', () => {
  it('turns a storm of 500 alerts into one incident with the right count and severity', async () => {
    const host = await newHost();
    const storm = Array.from({ length: 500 }, (_, i) =>
      alert(host.hostId, { severity: i % 100 === 7 ? 'CRITICAL' : i % 2 ? 'INFO' : 'WARN' }),
    );
    for (let i = 0; i < storm.length; i += 50) await insertAlerts(t.pool, storm.slice(i, i + 50));
    const [incident, ...others] = await incidentsOf(host.hostId);
    expect(others).toEqual([]);
    expect(incident).toMatchObject({
      state: 'OPEN',
      hostname: host.hostname,
      alertCount: 500,
      maxSeverity: 'CRITICAL',
      ruleName: 'etc-passwd-watch',
      tripwireType: 'FILE',
      createdBy: 'ingest',
    });
    // Every raw alert, and every CRITICAL one in particular, is reachable from the incident.
    const all = await listIncidentAlerts(t.pool, incident!.incidentId, { limit: 1000 });
    expect(all.total).toBe(500);
    expect(new Set(all.alerts.map((a) => a.alertId))).toEqual(new Set(storm.map((a) => a.alertId)));
    const critical = await listIncidentAlerts(t.pool, incident!.incidentId, {
      severities: ['CRITICAL'],
    });
    expect(critical.total).toBe(5);
    expect(critical.alerts.map((a) => a.alertId).sort()).toEqual(
      storm
        .filter((a) => a.severity === 'CRITICAL')
        .map((a) => a.alertId)
        .sort(),
    );
    const paged = await listIncidentAlerts(t.pool, incident!.incidentId, { limit: 7, offset: 490 });
    expect(paged.alerts).toHaveLength(7);
    // Each alert row carries its incident.
    const { rows } = await t.pool.query(
      'SELECT count(*)::int AS n FROM alerts WHERE host_id = $1 AND incident_id = $2',
      [host.hostId, incident!.incidentId],
    );
    expect(rows[0].n).toBe(500);
    // Opening it is audited, by ingest.
    expect(await auditOf(incident!.incidentId)).toEqual([
      expect.objectContaining({ actor: 'ingest', action: 'incident.open' }),
    ]);
  });

  it('keeps hosts, rules and tripwire types apart', async () => {
    const [a, b] = [await newHost(), await newHost()];
    const result = await insertAlerts(t.pool, [
      alert(a.hostId),
      alert(a.hostId),
      alert(a.hostId, { ruleName: 'ssh-keys' }),
      alert(a.hostId, { tripwireType: 'PROCESS' }),
      alert(b.hostId),
    ]);
    expect(result.incidents).toHaveLength(4);
    expect(result.incidents.every((i) => i.opened)).toBe(true);
    expect((await incidentsOf(a.hostId)).map((i) => i.alertCount).sort()).toEqual([1, 1, 2]);
    expect((await incidentsOf(b.hostId)).map((i) => i.alertCount)).toEqual([1]);
  });

  it('escalates severity and never lowers it', async () => {
    const host = await newHost();
    const seen: string[] = [];
    for (const severity of ['INFO', 'CRITICAL', 'INFO', 'WARN'] as const) {
      const { incidents } = await insertAlerts(t.pool, [alert(host.hostId, { severity })]);
      seen.push(incidents[0]!.maxSeverity);
    }
    expect(seen).toEqual(['INFO', 'CRITICAL', 'CRITICAL', 'CRITICAL']);
    const [incident] = await incidentsOf(host.hostId);
    expect(incident).toMatchObject({ alertCount: 4, maxSeverity: 'CRITICAL' });
  });

  it('does not count a resend twice', async () => {
    const host = await newHost();
    const [a, b, c] = [alert(host.hostId), alert(host.hostId), alert(host.hostId)];
    await insertAlerts(t.pool, [a!, b!]);
    const again = await insertAlerts(t.pool, [b!, a!, c!, c!]);
    expect(again.duplicates.sort()).toEqual([a!.alertId, b!.alertId, c!.alertId].sort());
    expect(again.incidents).toEqual([expect.objectContaining({ alertCount: 3, opened: false })]);
    const onlyResends = await insertAlerts(t.pool, [a!, b!]);
    expect(onlyResends.incidents).toEqual([]);
    const [incident] = await incidentsOf(host.hostId);
    expect(incident!.alertCount).toBe(3);
  });

  it('opens a new incident once the window has passed since the last alert', async () => {
    const host = await newHost();
    const t0 = Date.now() - 3_600_000;
    const at = (s: number) => ({ receivedAt: new Date(t0 + s * 1000), incidentWindowS: 60 });
    await insertAlerts(t.pool, [alert(host.hostId)], at(0));
    await insertAlerts(t.pool, [alert(host.hostId)], at(60)); // exactly at the window's edge: joins
    await insertAlerts(t.pool, [alert(host.hostId)], at(110)); // 50 s after the last: joins
    await insertAlerts(t.pool, [alert(host.hostId)], at(171)); // 61 s after the last: new
    const incidents = await incidentsOf(host.hostId);
    expect(incidents.map((i) => i.alertCount)).toEqual([1, 3]);
    const [newer, older] = incidents;
    expect(older!.firstSeen.getTime()).toBe(t0);
    expect(older!.lastSeen.getTime()).toBe(t0 + 110_000);
    expect(newer!.firstSeen.getTime()).toBe(t0 + 171_000);
  });

  it('keeps collecting while acknowledged, and opens a new incident after a resolve', async () => {
    const host = await newHost();
    const first = await insertAlerts(t.pool, [alert(host.hostId)]);
    const id = first.incidents[0]!.incidentId;
    await updateIncident(t.pool, id, { state: 'ACKNOWLEDGED' }, operator);
    const second = await insertAlerts(t.pool, [alert(host.hostId)]);
    expect(second.incidents).toEqual([expect.objectContaining({ incidentId: id, alertCount: 2 })]);
    await resolveIncident(
      t.pool,
      id,
      { resolutionMethod: 'MANUAL', rootCause: 'package upgrade' },
      operator,
    );
    const third = await insertAlerts(t.pool, [alert(host.hostId, { severity: 'INFO' })]);
    expect(third.incidents).toEqual([
      expect.objectContaining({ opened: true, alertCount: 1, maxSeverity: 'INFO' }),
    ]);
    expect(third.incidents[0]!.incidentId).not.toBe(id);
    expect((await getIncident(t.pool, id))!).toMatchObject({ state: 'RESOLVED', alertCount: 2 });
  });

  it("moves a flush's alerts to the right incident when its guess went stale before it got the lock", async () => {
    const host = await newHost();
    const first = await insertAlerts(t.pool, [alert(host.hostId)]);
    const stale = first.incidents[0]!.incidentId;
    // Hold the key's lock, let a flush write its alerts (guessing `stale`) and queue on the lock,
    // then resolve `stale` behind its back.
    const holder = await t.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT lock_incident_key($1, $2, $3)', [
        host.hostId,
        'FILE',
        'etc-passwd-watch',
      ]);
      const late = [alert(host.hostId), alert(host.hostId, { severity: 'CRITICAL' })];
      const flush = insertAlerts(t.pool, late);
      for (let waited = 0; ; waited += 10) {
        const { rows } = await t.pool.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        );
        if (rows[0].n > 0) break;
        if (waited > 5000) throw new Error('the flush never queued on the key lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      await holder.query(
        `UPDATE incidents SET state = 'RESOLVED', resolution_method = 'MANUAL', root_cause = 'test',
           resolved_at = now() WHERE incident_id = $1`,
        [stale],
      );
      await holder.query('COMMIT');
      const { incidents } = await flush;
      expect(incidents).toEqual([
        expect.objectContaining({ opened: true, alertCount: 2, maxSeverity: 'CRITICAL' }),
      ]);
      const fresh = incidents[0]!.incidentId;
      expect(fresh).not.toBe(stale);
      const moved = await listIncidentAlerts(t.pool, fresh);
      expect(moved.alerts.map((a) => a.alertId).sort()).toEqual(late.map((a) => a.alertId).sort());
      expect(await getIncident(t.pool, stale)).toMatchObject({ state: 'RESOLVED', alertCount: 1 });
      expect((await listIncidentAlerts(t.pool, stale)).total).toBe(1);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    }
  });

  it('never splits an incident between concurrent writers on separate pools', async () => {
    const host = await newHost();
    const pools = [
      createPool({ databaseUrl: t.databaseUrl }),
      createPool({ databaseUrl: t.databaseUrl }),
    ];
    try {
      for (let round = 0; round < 5; round++) {
        const rule = `race-${round}`;
        const writes = Array.from({ length: 16 }, (_, i) =>
          insertAlerts(
            pools[i % 2]!,
            Array.from({ length: 25 }, () =>
              alert(host.hostId, { ruleName: rule, severity: i === 11 ? 'CRITICAL' : 'INFO' }),
            ),
          ),
        );
        await Promise.all(writes);
        const incidents = (await incidentsOf(host.hostId)).filter((i) => i.ruleName === rule);
        expect(incidents).toHaveLength(1);
        expect(incidents[0]).toMatchObject({ alertCount: 400, maxSeverity: 'CRITICAL' });
        const { rows } = await t.pool.query(
          `SELECT count(*)::int AS n, count(DISTINCT incident_id)::int AS incidents, min(incident_id::text) AS id
           FROM alerts WHERE host_id = $1 AND rule_name = $2`,
          [host.hostId, rule],
        );
        expect(rows[0]).toEqual({ n: 400, incidents: 1, id: incidents[0]!.incidentId });
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });
});

describe('incident lifecycle', () => {
  async function incidentIn(state: IncidentState): Promise<Incident> {
    const host = await newHost();
    const incident = await createIncident(
      t.pool,
      { hostId: host.hostId, ruleName: 'manual', tripwireType: 'NETWORK', severity: 'WARN' },
      { actor: 'setup' },
    );
    if (state === 'OPEN') return incident;
    if (state === 'ACKNOWLEDGED') {
      return updateIncident(t.pool, incident.incidentId, { state }, { actor: 'setup' });
    }
    return resolveIncident(
      t.pool,
      incident.incidentId,
      { state, resolutionMethod: 'MANUAL', rootCause: 'setup' },
      { actor: 'setup' },
    );
  }

  const resolution = (to: IncidentState) =>
    to === 'RESOLVED' || to === 'FALSE_POSITIVE'
      ? { resolutionMethod: 'MANUAL' as const, rootCause: 'a test' }
      : {};

  const pairs = INCIDENT_STATES.flatMap((from) => INCIDENT_STATES.map((to) => [from, to] as const));

  it.each(pairs.filter(([from, to]) => !INCIDENT_TRANSITIONS[from].includes(to)))(
    'refuses %s → %s with an error naming both and what is allowed',
    async (from, to) => {
      const incident = await incidentIn(from);
      const auditBefore = (await auditOf(incident.incidentId)).length;
      const refusal = updateIncident(
        t.pool,
        incident.incidentId,
        { state: to, ...resolution(to) },
        operator,
      );
      await expect(refusal).rejects.toBeInstanceOf(InvalidTransitionError);
      const error = (await refusal.catch((e) => e)) as InvalidTransitionError;
      expect(error).toMatchObject({ from, to, allowed: INCIDENT_TRANSITIONS[from] });
      expect(error.message).toContain(`from ${from} to ${to}`);
      if (INCIDENT_TRANSITIONS[from].length) {
        expect(error.message).toContain(INCIDENT_TRANSITIONS[from].join(', '));
      } else {
        expect(error.message).toContain('final');
      }
      expect(await getIncident(t.pool, incident.incidentId)).toMatchObject({
        state: from,
        version: incident.version,
      });
      expect(await auditOf(incident.incidentId)).toHaveLength(auditBefore);
    },
  );

  it.each(pairs.filter(([from, to]) => INCIDENT_TRANSITIONS[from].includes(to)))(
    'allows %s → %s and audits it with the actor',
    async (from, to) => {
      const incident = await incidentIn(from);
      const after = await updateIncident(
        t.pool,
        incident.incidentId,
        { state: to, ...resolution(to) },
        { actor: 'bob', expectedVersion: incident.version },
      );
      expect(after).toMatchObject({ state: to, version: incident.version + 1 });
      if (to === 'RESOLVED' || to === 'FALSE_POSITIVE') {
        expect(after).toMatchObject({ resolutionMethod: 'MANUAL', rootCause: 'a test' });
        expect(after.resolvedAt).toBeInstanceOf(Date);
      }
      const entries = await auditOf(incident.incidentId);
      expect(entries.at(-1)).toMatchObject({
        actor: 'bob',
        action: 'incident.transition',
        details: {
          from,
          to,
          before: expect.objectContaining({ state: from }),
          after: expect.objectContaining({ state: to }),
        },
      });
    },
  );

  it('needs a resolution method and a root cause to resolve, and refuses them otherwise', async () => {
    const incident = await incidentIn('OPEN');
    await expect(
      updateIncident(t.pool, incident.incidentId, { state: 'RESOLVED' }, operator),
    ).rejects.toThrow(/resolutionMethod must be one of/);
    await expect(
      resolveIncident(
        t.pool,
        incident.incidentId,
        { resolutionMethod: 'MANUAL', rootCause: ' ' },
        operator,
      ),
    ).rejects.toThrow(/root cause/);
    await expect(
      updateIncident(
        t.pool,
        incident.incidentId,
        { state: 'ACKNOWLEDGED', rootCause: 'x' },
        operator,
      ),
    ).rejects.toBeInstanceOf(IncidentValidationError);
    await expect(updateIncident(t.pool, incident.incidentId, {}, operator)).rejects.toBeInstanceOf(
      IncidentValidationError,
    );
    await expect(
      updateIncident(t.pool, incident.incidentId, { note: 'hi' }, { actor: '' }),
    ).rejects.toThrow(/actor/);
    expect(await getIncident(t.pool, incident.incidentId)).toMatchObject({ state: 'OPEN' });
  });

  it('assigns, appends notes, refuses stale versions, and audits each change', async () => {
    const incident = await incidentIn('OPEN');
    const assigned = await updateIncident(
      t.pool,
      incident.incidentId,
      { assignee: 'carol', note: 'looking' },
      { actor: 'alice', expectedVersion: incident.version },
    );
    const noted = await updateIncident(
      t.pool,
      incident.incidentId,
      { note: 'it was cron' },
      { actor: 'carol' },
    );
    expect(noted.assignee).toBe('carol');
    expect(noted.notes.map((n) => [n.author, n.text])).toEqual([
      ['alice', 'looking'],
      ['carol', 'it was cron'],
    ]);
    await expect(
      updateIncident(
        t.pool,
        incident.incidentId,
        { assignee: null },
        { actor: 'alice', expectedVersion: assigned.version },
      ),
    ).rejects.toBeInstanceOf(IncidentConflictError);
    const entries = await auditOf(incident.incidentId);
    expect(entries.map((e) => [e.actor, e.action])).toEqual([
      ['setup', 'incident.create'],
      ['alice', 'incident.update'],
      ['carol', 'incident.update'],
    ]);
    expect(entries[1]!.details).toMatchObject({
      before: { assignee: null },
      after: { assignee: 'carol' },
    });
    expect(await verifyAuditChain(t.pool)).toMatchObject({ ok: true });
  });

  it('collects alerts into an incident an operator opened', async () => {
    const host = await newHost();
    const manual = await createIncident(
      t.pool,
      { hostId: host.hostId, ruleName: 'etc-passwd-watch', tripwireType: 'FILE', severity: 'INFO' },
      operator,
    );
    const { incidents } = await insertAlerts(t.pool, [
      alert(host.hostId, { severity: 'CRITICAL' }),
    ]);
    expect(incidents).toEqual([
      expect.objectContaining({
        incidentId: manual.incidentId,
        alertCount: 1,
        maxSeverity: 'CRITICAL',
      }),
    ]);
    await expect(
      createIncident(
        t.pool,
        { hostId: randomUUID(), tripwireType: 'FILE', severity: 'INFO' },
        operator,
      ),
    ).rejects.toThrow(/no host/);
  });

  it('lists by severity then recency, filtered, with a total', async () => {
    const host = await newHost();
    const make = (severity: (typeof SEVERITIES)[number], ruleName: string) =>
      createIncident(
        t.pool,
        { hostId: host.hostId, ruleName, tripwireType: 'FILE', severity },
        operator,
      );
    const info = await make('INFO', 'a');
    const crit1 = await make('CRITICAL', 'b');
    const warn = await make('WARN', 'c');
    const crit2 = await make('CRITICAL', 'd');
    await updateIncident(t.pool, warn.incidentId, { state: 'ACKNOWLEDGED' }, operator);
    const all = await listIncidents(t.pool, { hostId: host.hostId });
    expect(all.total).toBe(4);
    expect(all.incidents.map((i) => i.incidentId)).toEqual([
      crit2.incidentId,
      crit1.incidentId,
      warn.incidentId,
      info.incidentId,
    ]);
    const page = await listIncidents(t.pool, { hostId: host.hostId, limit: 2, offset: 2 });
    expect(page).toMatchObject({ total: 4 });
    expect(page.incidents.map((i) => i.incidentId)).toEqual([warn.incidentId, info.incidentId]);
    const acked = await listIncidents(t.pool, { hostId: host.hostId, states: ['ACKNOWLEDGED'] });
    expect(acked.incidents.map((i) => i.incidentId)).toEqual([warn.incidentId]);
    const critical = await listIncidents(t.pool, { hostId: host.hostId, severities: ['CRITICAL'] });
    expect(critical.total).toBe(2);
    await expect(listIncidents(t.pool, { limit: 0 })).rejects.toBeInstanceOf(
      IncidentValidationError,
    );
  });
});
