import { describe, expect, it } from 'vitest';
import { frameFor, ReplayWindow } from './resume-window.js';

const entry = (offset: number, ageMs = 0, epoch = 'e1') => ({
  epoch,
  offset: BigInt(offset),
  position: `${epoch}:${1_700_000_000_000 + offset}-${offset}`,
  appendedAtMs: Date.now() - ageMs,
  frame: `f${offset}`,
});

describe('ReplayWindow', () => {
  it('replays exactly what follows a position, and refuses positions older than the window', () => {
    const h = new ReplayWindow(5, 60_000);
    for (let i = 1; i <= 8; i++) h.add(entry(i));
    expect(h.oldest).toBe(entry(4).position);
    const r = h.replaySince(entry(5).position);
    expect(r.ok && r.entries.map((e) => e.frame)).toEqual(['f6', 'f7', 'f8']);
    const slice = h.replaySince(entry(5).position, 2);
    expect(slice.ok && slice.entries.map((e) => e.frame)).toEqual(['f6', 'f7']);
    // Offset 3 is still exact: everything after it (4..8) is held.
    expect(h.replaySince(entry(3).position).ok).toBe(true);
    expect(h.replaySince(entry(2).position)).toMatchObject({
      ok: false,
      oldest: entry(4).position,
    });
    expect(h.replaySince(entry(8).position)).toEqual({ ok: true, entries: [] });
    expect(h.replaySince('yesterday')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a stream position/),
    });
  });

  it('evicts the oldest frames once their bytes pass the byte budget, whatever the count allows', () => {
    const big = (offset: number) => ({ ...entry(offset), frame: 'x'.repeat(40 * 1024) });
    const h = new ReplayWindow(50_000, 60_000, 100 * 1024);
    for (let i = 1; i <= 5; i++) h.add(big(i));
    // 100 KiB holds two 40 KiB frames: 4 and 5; resuming after 3 is still exact, after 2 is not.
    expect(h.bytes).toBe(80 * 1024);
    expect(h.oldest).toBe(entry(4).position);
    expect(h.replaySince(entry(3).position)).toMatchObject({ ok: true, entries: [{}, {}] });
    expect(h.replaySince(entry(2).position)).toMatchObject({
      ok: false,
      oldest: entry(4).position,
    });
    // Small frames fit beside them; the next big one pushes out the oldest big one only.
    for (let i = 6; i <= 105; i++) h.add(entry(i));
    expect(h.oldest).toBe(entry(4).position);
    h.add(big(106));
    expect(h.oldest).toBe(entry(5).position);
    expect(h.bytes).toBeLessThanOrEqual(100 * 1024);
    h.clear();
    expect(h.bytes).toBe(0);
  });

  it('keeps the newest frame even when it alone is larger than the byte budget', () => {
    const h = new ReplayWindow(10, 60_000, 64 * 1024);
    h.add({ ...entry(1), frame: 'x'.repeat(80 * 1024) });
    expect(h.latest).toBe(entry(1).position);
    h.add(entry(2));
    expect(h.oldest).toBe(entry(2).position);
    expect(h.bytes).toBe(2);
  });

  it('refuses a position from another epoch or without one, however its offset compares', () => {
    const h = new ReplayWindow(100, 60_000);
    for (let i = 1; i <= 5; i++) h.add(entry(i));
    // Offset 3 of another epoch (Redis restarted empty: its counter is back at 1) is not ours.
    expect(h.replaySince(entry(3, 0, 'e0').position)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/another stream epoch/),
      oldest: entry(1).position,
    });
    expect(h.replaySince(`${1_700_000_000_003}-3`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no epoch/),
    });
    expect(h.replaySince(entry(3).position).ok).toBe(true);
  });

  it('holds one epoch at a time', () => {
    const h = new ReplayWindow(100, 60_000);
    for (let i = 1; i <= 5; i++) h.add(entry(i));
    h.add(entry(1, 0, 'e2'));
    expect(h.oldest).toBe(entry(1, 0, 'e2').position);
    expect(h.replaySince(entry(4).position).ok).toBe(false);
    expect(h.replaySince(entry(0, 0, 'e2').position)).toMatchObject({ ok: true });
  });

  it('still knows, after a reset cleared it, which alerts a position of the old epoch had', () => {
    const id = (offset: number) => `00000000-0000-4000-8000-${String(offset).padStart(12, '0')}`;
    const alert = (offset: number, epoch = 'e1') => ({
      ...entry(offset, 0, epoch),
      subject: { kind: 'alert' as const, host_id: 'h', tripwire_type: 'FILE', severity: 'INFO' },
      frame: `{"type":"alert","position":"${entry(offset, 0, epoch).position}","data":{"alert_id":"${id(offset)}"}}`,
    });
    const h = new ReplayWindow(100, 60_000);
    for (let i = 1; i <= 5; i++) h.add(alert(i));
    const since = alert(3).position;
    expect([...h.knownAlertIds(since, 0)]).toEqual([id(1), id(2), id(3)]);
    // A new epoch clears the frames; the ids at or before `since` are still known, in `since`'s epoch only.
    h.add(alert(1, 'e2'));
    expect(h.replaySince(since).ok).toBe(false);
    expect([...h.knownAlertIds(since, 0)].sort()).toEqual([id(1), id(2), id(3)]);
    expect([...h.knownAlertIds(alert(1, 'e2').position, 0)]).toEqual([id(1)]);
    // Only those appended since the backfill's start, and never for a position without an epoch.
    expect([...h.knownAlertIds(since, Date.now() + 1_000)]).toEqual([]);
    expect([...h.knownAlertIds('1700000000003-3', 0)]).toEqual([]);
  });

  it('forgets entries older than the time window', () => {
    const h = new ReplayWindow(100, 1_000);
    h.add(entry(1, 5_000));
    h.add(entry(2));
    expect(h.oldest).toBe(entry(2).position);
  });
});

describe('frameFor', () => {
  it('splices the position into the stored JSON without re-serializing', () => {
    const raw = '{"type":"alert","data":{"alert_id":"a"}}';
    const position = 'e1:5-1';
    const frame = frameFor({ position, epoch: 'e1', raw, message: JSON.parse(raw) });
    expect(frame).toBe('{"type":"alert","position":"e1:5-1","data":{"alert_id":"a"}}');
    expect(JSON.parse(frame)).toEqual({ type: 'alert', position, data: { alert_id: 'a' } });
  });
});
