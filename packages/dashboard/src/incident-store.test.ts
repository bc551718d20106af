import type { IncidentJson } from '@tripwire/wire';
import { describe, expect, it } from 'vitest';
import type { IncidentQuery } from './api.js';
import { IncidentStore } from './incident-store.js';
import { incidentFilterFromSearch, searchFromIncidentFilter } from './url-state.js';

let n = 0;
const incident = (over: Partial<IncidentJson> = {}): IncidentJson => {
  const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  return {
    incident_id: id,
    host_id: 'h1',
    hostname: 'web-01',
    rule_name: 'etc-passwd',
    tripwire_type: 'FILE',
    state: 'OPEN',
    max_severity: 'WARN',
    alert_count: 1,
    first_seen: '2026-11-22T14:00:00.000Z',
    last_seen: '2026-11-22T14:00:00.000Z',
    assignee: null,
    notes: [],
    resolution_method: null,
    root_cause: null,
    created_by: 'ingest',
    created_at: '2026-11-22T14:00:00.000Z',
    updated_at: '2026-11-22T14:00:00.000Z',
    resolved_at: null,
    version: 0,
    revision: 1,
    ...over,
  };
};
const open: IncidentQuery = { state: ['OPEN', 'ACKNOWLEDGED'], severity: [], host: null };
const ids = (store: IncidentStore) => store.rows.map((r) => r.incident_id);
const at = (minute: number) => `2026-11-22T14:${String(minute).padStart(2, '0')}:00.000Z`;

describe('IncidentStore', () => {
  it('orders by highest severity, then most recent last_seen, and re-sorts on updates', () => {
    const store = new IncidentStore(open);
    const oldCritical = incident({ max_severity: 'CRITICAL', last_seen: at(1) });
    const newWarn = incident({ max_severity: 'WARN', last_seen: at(9) });
    const oldWarn = incident({ max_severity: 'WARN', last_seen: at(2) });
    const info = incident({ max_severity: 'INFO', last_seen: at(10) });
    store.addPage([newWarn, info, oldWarn], 3);
    store.apply(oldCritical);
    expect(ids(store)).toEqual([oldCritical, newWarn, oldWarn, info].map((i) => i.incident_id));

    // The older WARN fires again and escalates: it moves to the top.
    store.apply({ ...oldWarn, max_severity: 'CRITICAL', last_seen: at(11), revision: 7 });
    expect(ids(store)).toEqual([oldWarn, oldCritical, newWarn, info].map((i) => i.incident_id));
  });

  it('applies a copy only when its revision is higher than the one shown', () => {
    const store = new IncidentStore(open);
    const i = incident({ alert_count: 5, revision: 5 });
    expect(store.apply(i)).toBe(true);
    // An older frame, then a repeat of the same change: both ignored.
    expect(store.apply({ ...i, alert_count: 3, revision: 3 })).toBe(false);
    expect(store.apply({ ...i, alert_count: 99, revision: 5 })).toBe(false);
    expect(store.rows[0]!.alert_count).toBe(5);
    // A page read before the frame arrived does not take it back either.
    store.addPage([{ ...i, alert_count: 4, revision: 4 }], 1);
    expect(store.rows).toHaveLength(1);
    expect(store.rows[0]!.alert_count).toBe(5);
    expect(store.apply({ ...i, alert_count: 6, revision: 6 })).toBe(true);
    expect(store.get(i.incident_id)!.alert_count).toBe(6);
    expect(store.rows[0]!.alert_count).toBe(6);
  });

  it('a new incident enters the list; one that leaves the filter leaves it, but stays known', () => {
    const store = new IncidentStore(open);
    const a = incident({ revision: 1 });
    store.addPage([a], 1);
    const b = incident({ max_severity: 'CRITICAL', revision: 1 });
    store.apply(b);
    expect(ids(store)).toEqual([b.incident_id, a.incident_id]);

    store.apply({ ...b, state: 'ACKNOWLEDGED', version: 1, revision: 2 });
    expect(store.rows.map((r) => r.state)).toEqual(['ACKNOWLEDGED', 'OPEN']);
    store.apply({ ...b, state: 'RESOLVED', version: 2, revision: 3 });
    expect(ids(store)).toEqual([a.incident_id]);
    expect(store.get(b.incident_id)!.state).toBe('RESOLVED');

    // Under a RESOLVED filter it is there, at its latest revision, after the reload.
    store.reset({ ...open, state: ['RESOLVED'] });
    expect(store.rows).toEqual([]);
    store.addPage([{ ...b, state: 'ACKNOWLEDGED', revision: 2 }], 1);
    expect(store.rows.map((r) => [r.incident_id, r.state])).toEqual([[b.incident_id, 'RESOLVED']]);
  });

  it('filters by severity and host; an escalation into the filter enters it', () => {
    const store = new IncidentStore({ state: [], severity: ['CRITICAL'], host: 'h2' });
    const other = incident({ host_id: 'h1', max_severity: 'CRITICAL' });
    const mine = incident({ host_id: 'h2', max_severity: 'WARN', revision: 1 });
    store.apply(other);
    store.apply(mine);
    expect(store.rows).toEqual([]);
    store.apply({ ...mine, max_severity: 'CRITICAL', alert_count: 2, revision: 2 });
    expect(ids(store)).toEqual([mine.incident_id]);
  });

  it('keeps a live incident that sorts past the last row read out until its page comes', () => {
    const store = new IncidentStore(open);
    const top = incident({ max_severity: 'CRITICAL' });
    store.addPage([top], 2);
    expect(store.hasMore).toBe(true);
    const low = incident({ max_severity: 'INFO' });
    store.apply(low);
    expect(ids(store)).toEqual([top.incident_id]);
    store.addPage([low], 2);
    expect(ids(store)).toEqual([top.incident_id, low.incident_id]);
    expect(store.hasMore).toBe(false);
  });
});

describe('the incidents filter in the URL', () => {
  it('defaults to the open states, round-trips, and `all` means every state', () => {
    const host = '3f2a0c1e-9b7d-4c55-8e2f-0123456789ab';
    expect(incidentFilterFromSearch('')).toEqual(open);
    expect(searchFromIncidentFilter(open)).toBe('');
    const f = incidentFilterFromSearch(
      `?state=resolved,FALSE_POSITIVE&severity=CRITICAL&host=${host}`,
    );
    expect(f).toEqual({ state: ['RESOLVED', 'FALSE_POSITIVE'], severity: ['CRITICAL'], host });
    expect(searchFromIncidentFilter(f)).toBe(
      `?state=RESOLVED,FALSE_POSITIVE&severity=CRITICAL&host=${host}`,
    );
    expect(incidentFilterFromSearch('?state=all').state).toEqual([]);
    expect(searchFromIncidentFilter({ ...open, state: [] })).toBe('?state=all');
    // In the lifecycle's order, whatever order the chips were clicked in.
    expect(searchFromIncidentFilter({ ...open, state: ['RESOLVED', 'OPEN'] })).toBe(
      '?state=OPEN,RESOLVED',
    );
  });
});
