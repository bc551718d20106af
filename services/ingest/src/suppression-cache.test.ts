import { randomUUID } from 'node:crypto';
import type { NewAlert } from '@tripwire/storage';
import type { DetailMatcher, SuppressionCriteria } from '@tripwire/wire';
import { describe, expect, it } from 'vitest';
import { SuppressionCache } from './suppression-cache.js';

const metrics = {
  suppressionsActive: { set() {} },
  suppressionReloadFailures: { inc() {} },
  alertsSuppressed: { inc() {} },
};
const HOST = randomUUID();
const cacheOf = (all: SuppressionCriteria[]) => {
  const cache = new SuppressionCache(null as never, metrics, null as never);
  cache.replace(all);
  return cache;
};
const sup = (over: Partial<SuppressionCriteria>): SuppressionCriteria => ({
  ...{ suppressionId: randomUUID(), hostId: null, ruleName: null, tripwireType: null },
  ...{ severity: null, detail: [], expiresAtMs: null, ...over },
});
const alert = (detail: unknown, over: Partial<NewAlert> = {}): NewAlert => ({
  ...{ alertId: randomUUID(), hostId: HOST, occurredAtUs: 1, tripwireType: 'FILE' },
  ...{ severity: 'WARN', ruleName: 'r', eventDetailJson: JSON.stringify(detail), ...over },
});
const mutedBy = (cache: SuppressionCache, a: NewAlert) => cache.apply([a])[0]!.suppressionId;
const on = (path: string[], op: DetailMatcher['op'], value: string) => [{ path, op, value }];

describe('SuppressionCache', () => {
  it('matches equals, prefix and contains on a path, numbers as text, among many on the same path', () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      sup({ ruleName: 'r', detail: on(['file', 'path'], i % 2 ? 'prefix' : 'equals', `/x/${i}/`) }),
    );
    const equals = sup({ ruleName: 'r', detail: on(['file', 'path'], 'equals', '/etc/hosts') });
    const prefix = sup({ ruleName: 'r', detail: on(['file', 'path'], 'prefix', '/var/spool/') });
    const contains = sup({ detail: on(['cmd'], 'contains', 'backup') });
    const port = sup({ detail: on(['port'], 'equals', '22') });
    const cache = cacheOf([...many, equals, prefix, contains, port]);
    expect(mutedBy(cache, alert({ file: { path: '/etc/hosts' } }))).toBe(equals.suppressionId);
    expect(mutedBy(cache, alert({ file: { path: '/var/spool/cron' } }))).toBe(prefix.suppressionId);
    expect(mutedBy(cache, alert({ file: { path: '/x/7/y' } }))).toBe(many[7]!.suppressionId);
    expect(mutedBy(cache, alert({ file: { path: '/x/8/y' } }))).toBeUndefined();
    expect(mutedBy(cache, alert({ cmd: 'run nightly-backup.sh' }))).toBe(contains.suppressionId);
    expect(mutedBy(cache, alert({ port: 22 }))).toBe(port.suppressionId);
    // A value that is an object, a missing key, no detail at all: no match.
    expect(mutedBy(cache, alert({ file: { path: { p: '/etc/hosts' } } }))).toBeUndefined();
    expect(mutedBy(cache, alert(null, { eventDetailJson: null }))).toBeUndefined();
  });

  it('honours every criterion: host, rule, type, severity, all matchers, expiry', () => {
    const later = Date.now() + 60_000;
    const strict = sup({
      ...{ hostId: HOST, ruleName: 'r', tripwireType: 'FILE', severity: 'WARN' },
      detail: [...on(['a'], 'equals', '1'), ...on(['b'], 'prefix', 'x')],
      expiresAtMs: later,
    });
    const cache = cacheOf([strict, sup({ ruleName: 'r', expiresAtMs: Date.now() - 1 })]);
    const hit = { a: '1', b: 'xyz' };
    expect(mutedBy(cache, alert(hit))).toBe(strict.suppressionId);
    expect(mutedBy(cache, alert(hit, { hostId: randomUUID() }))).toBeUndefined();
    expect(mutedBy(cache, alert(hit, { ruleName: 'other' }))).toBeUndefined();
    expect(mutedBy(cache, alert(hit, { tripwireType: 'NETWORK' }))).toBeUndefined();
    expect(mutedBy(cache, alert(hit, { severity: 'CRITICAL' }))).toBeUndefined();
    expect(mutedBy(cache, alert({ a: '1', b: 'zzz' }))).toBeUndefined();
  });
});
