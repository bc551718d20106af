import { describe, expect, it } from 'vitest';
import { AlertStore, MAX_ROWS, matchesSearch } from './alert-store.js';
import type { Alert } from './api.js';

let n = 0;
const alert = (over: Partial<Alert> = {}): Alert => ({
  alert_id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  host_id: 'h1',
  timestamp: new Date().toISOString(),
  timestamp_us: Date.now() * 1000,
  received_at: new Date(1_700_000_000_000 + n).toISOString(),
  tripwire_type: 'FILE',
  severity: 'CRITICAL',
  rule_name: 'r',
  event_detail: {},
  ...over,
});
const all = { severity: [], type: [], host: null };

describe('AlertStore', () => {
  it('puts live alerts on top, newest first, and history below, each alert once', () => {
    const store = new AlertStore(all);
    const [a, b, c] = [alert(), alert(), alert()];
    store.addHistory([b, a], 'cursor-1');
    store.addLive([b, c]);
    expect(store.rows.map((r) => r.alert_id)).toEqual([c, b, a].map((x) => x.alert_id));
    expect(store.rows[0]!.arrivedAt).toBeGreaterThan(0);
    expect(store.cursor).toBe('cursor-1');
  });

  it('drops live alerts that do not match its filter', () => {
    const store = new AlertStore({ severity: ['CRITICAL'], type: [], host: null });
    store.addLive([alert({ severity: 'INFO' }), alert({ severity: 'CRITICAL' })]);
    expect(store.rows.map((r) => r.severity)).toEqual(['CRITICAL']);
  });

  it('holds live alerts while paused and shows them on resume', () => {
    const store = new AlertStore(all);
    store.setPaused(true);
    store.addLive([alert(), alert()]);
    expect(store.rows).toHaveLength(0);
    expect(store.held).toHaveLength(2);
    store.setPaused(false);
    expect(store.rows).toHaveLength(2);
    expect(store.held).toHaveLength(0);
  });

  it('keeps at most MAX_ROWS, dropping the oldest, and then pages on from the oldest kept', () => {
    const store = new AlertStore(all);
    store.addHistory([], 'c');
    store.addLive(Array.from({ length: MAX_ROWS + 5 }, () => alert()));
    expect(store.rows).toHaveLength(MAX_ROWS);
    expect(store.cursor).toBeNull();
    expect(store.historyDone).toBe(false);
    expect(store.olderThan).toBe(store.rows.at(-1)!.received_at);
  });
});

describe("matchesSearch (the server's search, on live alerts)", () => {
  it('finds the text in the rule name or the detail, ignoring case, as the JSON the server searches', () => {
    const a = alert({
      rule_name: 'Shadow-Watch',
      event_detail: { path: 'C:\\Temp\\x', cmd: 'say "hi"' },
    });
    expect(matchesSearch('shadow-w', a)).toBe(true);
    expect(matchesSearch('c:\\temp', a)).toBe(true);
    expect(matchesSearch('say "hi"', a)).toBe(true);
    expect(matchesSearch('path', a)).toBe(true);
    expect(matchesSearch('passwd', a)).toBe(false);
  });
});
