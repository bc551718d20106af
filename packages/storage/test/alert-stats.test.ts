import { describe, expect, it } from 'vitest';
import { countAlertsPerHost, countAlertsPerMinute } from '../src/alert-stats.js';
import { InvalidQueryError, insertAlerts } from '../src/alert-store.js';
import type { Severity } from '../src/models.js';
import { useTestDatabase } from './test-database.js';
import { newAlert, newHost as newHostIn } from './test-rows.js';

const t = useTestDatabase();
const newHost = () => newHostIn(t.pool);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Stores `count` alerts of one host and severity as received at `at`. */
const store = (hostId: string, at: Date, count = 1, severity: Severity = 'WARN') =>
  insertAlerts(
    t.pool,
    Array.from({ length: count }, () => newAlert(hostId, { severity, eventDetailJson: null })),
    at,
  );

describe('countAlertsPerHost', () => {
  it('counts each host’s alerts since the given time, across partitions, 0 for quiet hosts', async () => {
    const busy = await newHost();
    const other = await newHost();
    const quiet = await newHost();
    const now = Date.now();
    await store(busy.hostId, new Date(now - 5 * MINUTE), 3);
    await store(busy.hostId, new Date(now - 23 * HOUR), 2);
    await store(busy.hostId, new Date(now - 25 * HOUR), 4); // before `since`
    await store(busy.hostId, new Date(now - 92 * 24 * HOUR), 6); // another partition (default: no monthly one that old)
    await store(other.hostId, new Date(now - HOUR), 1, 'CRITICAL');
    await store(quiet.hostId, new Date(now - 30 * 24 * HOUR), 1);

    const last24h = await countAlertsPerHost(t.pool, new Date(now - 24 * HOUR));
    expect(last24h.get(busy.hostId)).toBe(5);
    expect(last24h.get(other.hostId)).toBe(1);
    expect(last24h.get(quiet.hostId)).toBe(0);

    const lastYear = await countAlertsPerHost(t.pool, new Date(now - 365 * 24 * HOUR));
    expect(lastYear.get(busy.hostId)).toBe(15);
    expect(lastYear.get(quiet.hostId)).toBe(1);
  });

  it('refuses an invalid time', async () => {
    await expect(countAlertsPerHost(t.pool, new Date(Number.NaN))).rejects.toThrow(
      InvalidQueryError,
    );
  });
});

describe('countAlertsPerMinute', () => {
  // A fixed minute two days back, so the test owns every alert in its range.
  const base = Math.floor((Date.now() - 48 * HOUR) / MINUTE) * MINUTE;
  const at = (minutes: number, seconds = 0) => new Date(base + minutes * MINUTE + seconds * 1000);

  it('buckets by minute and severity, zero-fills every minute, oldest first', async () => {
    const host = await newHost();
    const other = await newHost();
    await store(host.hostId, at(0, 0), 2, 'INFO');
    await store(host.hostId, at(0, 59.999), 1, 'CRITICAL');
    await store(host.hostId, at(2, 30), 3, 'WARN');
    await store(other.hostId, at(2, 1), 1, 'CRITICAL');
    await store(host.hostId, at(4, 0), 7, 'CRITICAL'); // at `to`: excluded
    await store(host.hostId, at(-1, 59), 5, 'INFO'); // before `from`: excluded

    // `from` is rounded down to its minute; `to` is exclusive.
    const buckets = await countAlertsPerMinute(t.pool, { from: at(0, 20), to: at(4) });
    expect(buckets).toEqual([
      { minute: at(0), counts: { INFO: 2, WARN: 0, CRITICAL: 1 } },
      { minute: at(1), counts: { INFO: 0, WARN: 0, CRITICAL: 0 } },
      { minute: at(2), counts: { INFO: 0, WARN: 3, CRITICAL: 1 } },
      { minute: at(3), counts: { INFO: 0, WARN: 0, CRITICAL: 0 } },
    ]);

    const oneHost = await countAlertsPerMinute(t.pool, {
      from: at(0),
      to: at(4),
      hostId: other.hostId,
    });
    expect(oneHost.map((b) => b.counts.CRITICAL)).toEqual([0, 0, 1, 0]);
    expect(oneHost.map((b) => b.counts.INFO + b.counts.WARN)).toEqual([0, 0, 0, 0]);

    // A `to` inside a minute makes that minute the last bucket.
    const partial = await countAlertsPerMinute(t.pool, { from: at(3), to: at(4, 1) });
    expect(partial.map((b) => [b.minute, b.counts.CRITICAL])).toEqual([
      [at(3), 0],
      [at(4), 7],
    ]);

    // receivedBefore stops the counting mid-minute; the buckets still reach `to`.
    const upTo = await countAlertsPerMinute(t.pool, {
      from: at(0),
      to: at(4),
      receivedBefore: at(2, 30),
    });
    expect(upTo.map((b) => b.counts.WARN + b.counts.CRITICAL)).toEqual([1, 0, 1, 0]);
  });

  it('answers an empty range with no buckets, and refuses bad ranges', async () => {
    expect(await countAlertsPerMinute(t.pool, { from: at(1), to: at(1) })).toEqual([]);
    await expect(countAlertsPerMinute(t.pool, { from: at(2), to: at(1) })).rejects.toThrow(
      /from must not be after to/,
    );
    await expect(
      countAlertsPerMinute(t.pool, { from: new Date(Number.NaN), to: at(1) }),
    ).rejects.toThrow(InvalidQueryError);
    await expect(
      countAlertsPerMinute(t.pool, { from: at(0), to: at(8 * 24 * 60) }),
    ).rejects.toThrow(/at most 10080 minutes/);
  });
});
