import { describe, expect, it } from 'vitest';
import { AlertRate, RATE_MINUTES } from './alert-rate.js';
import type { Alert } from './api.js';

const at = (iso: string, severity: Alert['severity']) => ({ received_at: iso, severity }) as Alert;

describe('AlertRate', () => {
  it('fills from the API, counts only later live alerts, and slides to a new minute', () => {
    const rate = new AlertRate();
    const asOf = Date.parse('2026-01-01T10:30:20Z');
    rate.fill([{ minute: '2026-01-01T10:30:00.000Z', INFO: 1, WARN: 2, CRITICAL: 3 }], asOf);
    expect(rate.minutes).toHaveLength(RATE_MINUTES);
    expect(rate.counts.CRITICAL.at(-1)).toBe(3);
    rate.count([at('2026-01-01T10:30:10Z', 'CRITICAL'), at('2026-01-01T10:30:40Z', 'CRITICAL')]);
    expect(rate.counts.CRITICAL.at(-1)).toBe(4);
    rate.count([at('2026-01-01T10:31:05Z', 'WARN')]);
    expect(new Date(rate.minutes.at(-1)!).toISOString()).toBe('2026-01-01T10:31:00.000Z');
    expect(rate.counts.WARN.slice(-2)).toEqual([2, 1]);
    expect(rate.counts.CRITICAL).toHaveLength(RATE_MINUTES);
  });

  it('counts an alert once when the stats were read while it arrived (bound in the same millisecond)', () => {
    const rate = new AlertRate();
    // The API counted alerts received before 10:30:20.500 (a bound in milliseconds, like received_at).
    rate.fill(
      [{ minute: '2026-01-01T10:30:00.000Z', INFO: 0, WARN: 0, CRITICAL: 1 }],
      Date.parse('2026-01-01T10:30:20.500Z'),
    );
    rate.count([
      at('2026-01-01T10:30:20.499Z', 'CRITICAL'), // in the buckets already
      at('2026-01-01T10:30:20.500Z', 'CRITICAL'), // received at .500xyz: not before the bound
      at('2026-01-01T10:30:21.000Z', 'CRITICAL'),
    ]);
    expect(rate.counts.CRITICAL.at(-1)).toBe(3);
  });
});
