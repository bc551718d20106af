import { describe, expect, it } from 'vitest';
import { parseFilter } from './subscription-filter.js';
import { TopicRouter } from './topic-router.js';

const f = (x: object) => parseFilter(x, 100);
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
});
