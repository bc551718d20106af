import { describe, expect, it } from 'vitest';
import { filterMatches, parseFilter } from './subscription-filter.js';
import { TopicRouter } from './topic-router.js';

const f = (x: object) => parseFilter(x, 100);
const host = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const alert = { kind: 'alert', severity: 'CRITICAL', tripwire_type: 'FILE', host_id: 'h' } as const;
const incident = { ...alert, kind: 'incident' } as const;

describe('TopicRouter', () => {
  it('gives identical filter sets one topic and matches each topic at most once per alert', () => {
    const r = new TopicRouter();
    const a = r.acquire([f({ severities: ['critical'] }), f({ tripwire_types: ['FILE'] })])!;
    const b = r.acquire([f({ tripwire_types: ['FILE'] }), f({ severities: ['CRITICAL'] })])!;
    const c = r.acquire([f({ severities: ['INFO'] })])!;
    expect(b).toBe(a);
    expect(r.matching(alert)).toEqual([a]);
    r.release(a);
    expect(r.matching(alert)).toEqual([a]);
    r.release(b);
    expect(r.matching(alert)).toEqual([]);
    expect(r.size).toBe(1);
    r.release(c);
    expect(r.size).toBe(0);
  });

  it('keeps alert-only and incident-only subscriptions apart', () => {
    const r = new TopicRouter();
    const alerts = r.acquire([f({ kinds: ['alert'], severities: ['CRITICAL'] })]);
    const incidents = r.acquire([f({ kinds: ['INCIDENT'] })]);
    const both = r.acquire([f({})]);
    expect(r.matching(alert)).toEqual([alerts, both]);
    expect(r.matching(incident)).toEqual([incidents, both]);
    expect(() => f({ kinds: ['host'] })).toThrow('kinds: "host" is not one of alert, incident');
  });

  it('refuses a new topic beyond its cap, still sharing the ones it has', () => {
    const r = new TopicRouter(1);
    const a = r.acquire([f({ severities: ['INFO'] })]);
    expect(a).not.toBeNull();
    expect(r.acquire([f({ severities: ['WARN'] })])).toBeNull();
    expect(r.acquire([f({ severities: ['INFO'] })])).toBe(a);
    r.release(a!);
    r.release(a!);
    expect(r.acquire([f({ severities: ['WARN'] })])).not.toBeNull();
  });

  it('matches host-bound topics only for their hosts, the others for every host', () => {
    const r = new TopicRouter();
    const [h1, h2, h3] = [host(1), host(2), host(3)];
    const t1 = r.acquire([f({ host_ids: [h1] })])!;
    const t12 = r.acquire([f({ host_ids: [h1, h2], severities: ['CRITICAL'] })])!;
    const mixed = r.acquire([f({ host_ids: [h2] }), f({ severities: ['INFO'] })])!;
    const any = r.acquire([f({ tripwire_types: ['FILE'] })])!;
    const at = (host_id: string, severity = 'CRITICAL') =>
      r.matching({ ...alert, host_id, severity }).sort();
    expect(at(h1)).toEqual([t1, t12, any].sort());
    expect(at(h2)).toEqual([t12, mixed, any].sort());
    expect(at(h3)).toEqual([any]);
    expect(at(h3, 'INFO')).toEqual([mixed, any].sort());
    r.release(t12);
    expect(at(h2)).toEqual([mixed, any].sort());
    r.release(t1);
    expect(at(h1)).toEqual([any]);
    const again = r.acquire([f({ host_ids: [h1] })])!;
    expect(at(h1)).toEqual([again, any].sort());
  });

  it('matches exactly what a walk over every topic matches', () => {
    let seed = 7;
    const pick = <T>(xs: readonly T[]) => {
      seed = (seed * 48271) % 2147483647;
      return xs[seed % xs.length]!;
    };
    const filter = () =>
      f({
        host_ids: pick([[], [host(1)], [host(2), host(3)], [host(4)]]),
        severities: pick([[], ['CRITICAL'], ['INFO', 'WARN']]),
      });
    const r = new TopicRouter();
    const live = new Map<string, { filters: ReturnType<typeof f>[]; sockets: number }>();
    for (let i = 0; i < 300; i++) {
      const filters = [filter(), ...(pick([0, 1]) ? [filter()] : [])];
      const name = r.acquire(filters)!;
      const entry = live.get(name) ?? { filters, sockets: 0 };
      live.set(name, { ...entry, sockets: entry.sockets + 1 });
      const leaving = pick([...live.keys()]);
      if (pick([0, 1])) {
        r.release(leaving);
        const left = live.get(leaving)!;
        if (--left.sockets === 0) live.delete(leaving);
      }
    }
    expect(r.size).toBe(live.size);
    for (const host_id of [host(1), host(2), host(3), host(4), host(5)]) {
      for (const severity of ['CRITICAL', 'INFO']) {
        const subject = { ...alert, host_id, severity };
        const walk = [...live]
          .filter(([, t]) => t.filters.some((x) => filterMatches(x, subject)))
          .map(([name]) => name);
        expect(r.matching(subject).sort()).toEqual(walk.sort());
      }
    }
  });
});
