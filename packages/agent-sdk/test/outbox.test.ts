import { randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeverityName } from '../src/agent-types.js';
import { Outbox, type OutboxAlert, OVERFLOW_RULE_NAME, type OverflowDetail } from '../src/index.js';

let dir: string;
let path: string;
const open: Outbox[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tripwire-outbox-'));
  path = join(dir, 'outbox.log');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await rm(dir, { recursive: true, force: true });
});

const openOutbox = async (options: { maxBytes?: number; compactMinBytes?: number } = {}) => {
  const outbox = await Outbox.open({ path, ...options });
  open.push(outbox);
  return outbox;
};
const reopen = async (outbox: Outbox, options = {}) => {
  await outbox.close();
  return openOutbox(options);
};

let clock = 1_767_225_600_000_000;
const alert = (severity: SeverityName = 'CRITICAL', detail: object = { path: '/etc/passwd' }) => {
  clock += 1_000_000;
  return {
    alertId: randomUUID(),
    tripwireType: 'FILE',
    severity,
    ruleName: 'etc-passwd-watch',
    timestampUs: clock,
    detailJson: JSON.stringify(detail),
  } satisfies OutboxAlert;
};
const ids = (alerts: OutboxAlert[]) => alerts.map((a) => a.alertId);

describe('Outbox', () => {
  it('keeps appended alerts until they are completed, across a reopen, in order', async () => {
    let outbox = await openOutbox();
    const alerts = Array.from({ length: 5 }, () => alert());
    await Promise.all(alerts.map((a) => outbox.append(a)));
    expect(outbox.size).toBe(5);
    expect(outbox.complete([alerts[1]!.alertId, alerts[3]!.alertId, randomUUID()])).toBe(2);
    expect(outbox.size).toBe(3);
    outbox = await reopen(outbox);
    expect(outbox.alerts()).toEqual([alerts[0], alerts[2], alerts[4]]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('hands out durable alerts in order, each once, until requeued', async () => {
    const outbox = await openOutbox();
    const alerts = Array.from({ length: 5 }, () => alert());
    for (const a of alerts) await outbox.append(a);
    expect(outbox.readyCount).toBe(5);
    expect(ids(outbox.next(2))).toEqual(ids(alerts.slice(0, 2)));
    expect(ids(outbox.next(10))).toEqual(ids(alerts.slice(2)));
    expect(outbox.next(10)).toEqual([]);
    outbox.complete([alerts[0]!.alertId]);
    outbox.requeue();
    expect(ids(outbox.next(10))).toEqual(ids(alerts.slice(1)));
  });

  it('limits a take by bytes, but always hands out at least one alert', async () => {
    const outbox = await openOutbox();
    const big = Array.from({ length: 3 }, () => alert('INFO', { blob: 'x'.repeat(2000) }));
    for (const a of big) await outbox.append(a);
    expect(outbox.next(10, 100)).toHaveLength(1);
    expect(outbox.next(10, 4500)).toHaveLength(2);
  });

  it('many concurrent appends share one fsync, all resolve and all survive a reopen', async () => {
    let outbox = await openOutbox();
    const alerts = Array.from({ length: 500 }, () => alert());
    await Promise.all(alerts.map((a) => outbox.append(a)));
    // Appends made together share the write and the fsync.
    expect(outbox.fsyncs).toBeLessThanOrEqual(2);
    outbox = await reopen(outbox);
    expect(ids(outbox.alerts())).toEqual(ids(alerts));
  });

  it('refuses a second writer on the same file', async () => {
    await openOutbox();
    await expect(Outbox.open({ path })).rejects.toThrow(/already open in this process/);
  });

  it('cuts off a torn last record and keeps working', async () => {
    let outbox = await openOutbox();
    const alerts = [alert(), alert(), alert()];
    for (const a of alerts) await outbox.append(a);
    await outbox.close();
    open.length = 0;
    const size = (await stat(path)).size;
    await truncate(path, size - 7); // the last record loses its tail

    outbox = await openOutbox();
    expect(outbox.alerts()).toEqual(alerts.slice(0, 2));
    expect((await stat(path)).size).toBe(outbox.fileSize);
    const later = alert();
    await outbox.append(later);
    outbox = await reopen(outbox);
    expect(outbox.alerts()).toEqual([...alerts.slice(0, 2), later]);
  });

  it('skips garbage after the last record (a header with a wild length, a bad CRC)', async () => {
    let outbox = await openOutbox();
    const alerts = [alert(), alert()];
    for (const a of alerts) await outbox.append(a);
    await outbox.close();
    open.length = 0;

    await appendFile(path, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6]));
    outbox = await openOutbox();
    expect(outbox.alerts()).toEqual(alerts);
    const a3 = alert();
    await outbox.append(a3);
    await outbox.close();
    open.length = 0;

    // A complete record whose payload was damaged: its CRC no longer matches.
    const bytes = await readFile(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0x55, bytes.length - 5);
    await writeFile(path, bytes);
    outbox = await openOutbox();
    expect(outbox.alerts()).toEqual(alerts);
    const a4 = alert();
    await outbox.append(a4);
    outbox = await reopen(outbox);
    expect(outbox.alerts()).toEqual([...alerts, a4]);
  });

  it('refuses a file that is not an outbox rather than overwrite it', async () => {
    await writeFile(path, 'hello, this is not an outbox');
    await expect(Outbox.open({ path })).rejects.toThrow(/not a TripWire outbox/);
    expect(await readFile(path, 'utf8')).toBe('hello, this is not an outbox');
  });

  it('replace() is crash-safe: the file cut at any byte after it still holds the alert, old or new version', async () => {
    let outbox = await openOutbox();
    const other = alert();
    const first = alert('CRITICAL', { cmdline: `nc -e /bin/sh ${'A'.repeat(300)}` });
    await outbox.append(other);
    await outbox.append(first);
    const before = (await stat(path)).size;
    const fixed = { ...first, detailJson: JSON.stringify({ cmdline: 'nc -e /bin/sh A' }) };
    const replaced = outbox.replace(fixed);
    // The old version stays held until the new one is on disk.
    expect(outbox.get(first.alertId)).toEqual(first);
    await replaced;
    expect(outbox.get(first.alertId)).toEqual(fixed);
    expect(outbox.size).toBe(2);
    outbox = await reopen(outbox);
    expect(outbox.get(first.alertId)).toEqual(fixed);
    await outbox.close();
    const whole = await readFile(path);
    expect(whole.length).toBeGreaterThan(before);
    // Every cut a crash (torn write, power loss) can leave between the two sizes.
    for (let cut = before; cut <= whole.length; cut++) {
      await writeFile(path, whole.subarray(0, cut));
      const reopened = await Outbox.open({ path });
      const held = reopened.get(first.alertId);
      const ok =
        held !== undefined && [first.detailJson, fixed.detailJson].includes(held.detailJson);
      const sizeNow = reopened.size;
      await reopened.close();
      expect({ cut, ok, sizeNow }).toEqual({ cut, ok: true, sizeNow: 2 });
    }
    // A completed alert stays completed after a replace and a reopen.
    outbox = await openOutbox();
    outbox.complete([first.alertId]);
    outbox = await reopen(outbox);
    expect(ids(outbox.alerts())).toEqual([other.alertId]);
  });

  it('compaction keeps exactly the live records, in order', async () => {
    let outbox = await openOutbox({ compactMinBytes: 10_000 });
    const alerts = Array.from({ length: 200 }, () => alert());
    for (const a of alerts) await outbox.append(a);
    const grown = outbox.fileSize;
    expect(grown).toBeGreaterThan(10_000);
    const keep = alerts.filter((_, i) => i % 10 === 0);
    outbox.complete(ids(alerts.filter((_, i) => i % 10 !== 0)));
    await outbox.settled();
    // Mostly dead and over compactMinBytes: compacted by itself after the "done" write.
    expect(outbox.fileSize).toBeLessThan(grown / 5);
    expect((await stat(path)).size).toBe(outbox.fileSize);
    outbox = await reopen(outbox, { compactMinBytes: 10_000 });
    expect(outbox.alerts()).toEqual(keep);

    // An explicit compaction of a file with nothing dead changes nothing but the bytes' layout.
    await outbox.compact();
    outbox = await reopen(outbox);
    expect(outbox.alerts()).toEqual(keep);
  });

  describe('overflow', () => {
    const overflowAlerts = (outbox: Outbox) =>
      outbox.alerts().filter((a) => a.ruleName === OVERFLOW_RULE_NAME);
    const detail = (a: OutboxAlert) => JSON.parse(a.detailJson) as OverflowDetail;

    it('drops the oldest INFO first, then WARN, CRITICAL last, and says so in one WARN alert', async () => {
      const maxBytes = 8 * 1024;
      const outbox = await openOutbox({ maxBytes });
      const pad = { blob: 'x'.repeat(300) };
      const critical = Array.from({ length: 4 }, () => alert('CRITICAL', pad));
      const warn = Array.from({ length: 8 }, () => alert('WARN', pad));
      const info = Array.from({ length: 8 }, () => alert('INFO', pad));
      // Interleaved, so age and severity disagree.
      for (let i = 0; i < 8; i++) {
        await outbox.append(info[i]!);
        await outbox.append(warn[i]!);
        if (i < 4) await outbox.append(critical[i]!);
      }
      expect(outbox.bytes).toBeLessThanOrEqual(maxBytes);
      const kept = new Set(ids(outbox.alerts()));
      const droppedInfo = info.filter((a) => !kept.has(a.alertId));
      const droppedWarn = warn.filter((a) => !kept.has(a.alertId));
      // Every CRITICAL kept; INFO dropped oldest first and entirely before any WARN.
      expect(critical.every((a) => kept.has(a.alertId))).toBe(true);
      expect(droppedInfo).toEqual(info.slice(0, droppedInfo.length));
      expect(droppedWarn).toEqual(warn.slice(0, droppedWarn.length));
      if (droppedWarn.length > 0) expect(droppedInfo).toHaveLength(info.length);
      expect(droppedInfo.length).toBeGreaterThan(0);

      const dropped = [...droppedInfo, ...droppedWarn];
      expect(outbox.dropped).toBe(dropped.length);
      // One overflow alert, carrying the running totals of every overflow so far.
      const [report, ...more] = overflowAlerts(outbox);
      expect(more).toEqual([]);
      expect(report).toMatchObject({ severity: 'WARN', tripwireType: 'FILE' });
      const times = dropped.map((a) => a.timestampUs).sort((a, b) => a - b);
      expect(detail(report!)).toEqual({
        dropped: dropped.length,
        by_severity: { INFO: droppedInfo.length, WARN: droppedWarn.length, CRITICAL: 0 },
        by_type: { FILE: dropped.length, NETWORK: 0, PROCESS: 0 },
        oldest_dropped_at: new Date(times[0]! / 1000).toISOString(),
        newest_dropped_at: new Date(times.at(-1)! / 1000).toISOString(),
        outbox_max_bytes: maxBytes,
      });
    });

    it('drops CRITICAL alerts only when nothing less severe is left, and survives a reopen', async () => {
      const maxBytes = 4096;
      let outbox = await openOutbox({ maxBytes });
      const pad = { blob: 'y'.repeat(400) };
      const warn = alert('WARN', pad);
      await outbox.append(warn);
      const critical = Array.from({ length: 12 }, () => alert('CRITICAL', pad));
      for (const a of critical) await outbox.append(a);
      const kept = new Set(ids(outbox.alerts()));
      expect(kept.has(warn.alertId)).toBe(false);
      const droppedCritical = critical.filter((a) => !kept.has(a.alertId));
      expect(droppedCritical).toEqual(critical.slice(0, droppedCritical.length));
      expect(detail(overflowAlerts(outbox)[0]!).by_severity).toEqual({
        INFO: 0,
        WARN: 1,
        CRITICAL: droppedCritical.length,
      });
      const before = outbox.alerts();
      outbox = await reopen(outbox, { maxBytes });
      expect(outbox.alerts()).toEqual(before);
    });

    it('starts a new overflow alert once the previous one was sent', async () => {
      const maxBytes = 4096;
      const outbox = await openOutbox({ maxBytes });
      const pad = { blob: 'z'.repeat(400) };
      for (let i = 0; i < 12; i++) await outbox.append(alert('INFO', pad));
      const first = overflowAlerts(outbox);
      expect(first).toHaveLength(1);
      await outbox.settled();
      outbox.next(100); // everything, the overflow alert included, is now in flight
      for (let i = 0; i < 3; i++) await outbox.append(alert('INFO', pad));
      const reports = overflowAlerts(outbox);
      expect(reports).toHaveLength(2);
      expect(reports[0]).toEqual(first[0]);
      expect(detail(reports[0]!).dropped + detail(reports[1]!).dropped).toBe(outbox.dropped);
    });
  });
});
