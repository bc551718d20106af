import type { IncidentEventData } from '@tripwire/wire';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert } from './api.js';
import { LiveFeed, type LiveFeedEvents } from './live-feed.js';
import type { TaskEventData } from './task-types.js';

/** Stands in for the browser's WebSocket: records the URL, lets the test deliver frames. */
class FakeSocket {
  static last: FakeSocket;
  static readonly OPEN = 1;
  readyState = 1;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  send() {}
  close() {}
  deliver(frame: unknown) {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
}

const incident = { incident_id: 'i-1', revision: 3, state: 'OPEN', alert_count: 2 };

/** A fake socket and clock around each test of a describe block. */
function useFakeBrowser() {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeSocket);
    vi.stubGlobal('location', { protocol: 'http:', host: 'console.test' });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });
}

describe('LiveFeed and incident frames', () => {
  useFakeBrowser();

  it('hands incident frames over, skips ones it cannot read, and resumes after their position', () => {
    const incidents: IncidentEventData[] = [];
    const alerts: Alert[][] = [];
    const events: LiveFeedEvents = {
      onAlerts: (a) => alerts.push(a),
      onHost: () => {},
      onIncident: (e) => incidents.push(e),
      onTask: () => {},
      onState: () => {},
      onReload: () => {},
      onSignedOut: () => {},
    };
    const feed = new LiveFeed({ severity: [], type: [], host: null }, events);
    feed.start();
    const ws = FakeSocket.last;
    ws.deliver({ type: 'welcome', position: 'e1:100-0' });
    ws.deliver({ type: 'alert', position: 'e1:100-1', data: { alert_id: 'a-1' } });
    ws.deliver({
      type: 'incident',
      position: 'e1:100-2',
      data: { event: 'updated', incident },
    });
    // Malformed ones: no incident, no revision, not even JSON. None may stop the feed.
    ws.deliver({ type: 'incident', position: 'e1:100-3', data: {} });
    ws.deliver({
      type: 'incident',
      position: 'e1:100-4',
      data: { incident: { incident_id: 'x' } },
    });
    ws.deliver('{not json');
    ws.deliver({ type: 'incident', position: 'e1:100-5', data: { event: 'resolved', incident } });

    expect(incidents).toEqual([
      { event: 'updated', incident },
      { event: 'resolved', incident },
    ]);
    // Alerts still flow, in their batches, after all that.
    ws.deliver({ type: 'alert', position: 'e1:100-6', data: { alert_id: 'a-2' } });
    vi.advanceTimersByTime(60);
    expect(alerts).toEqual([[{ alert_id: 'a-1' }, { alert_id: 'a-2' }]]);

    // A reconnect resumes after the last frame seen; an incident's position counts too.
    ws.deliver({ type: 'incident', position: 'e1:100-7', data: { event: 'updated', incident } });
    ws.onclose?.({ code: 1012 });
    vi.advanceTimersByTime(200);
    expect(new URL(FakeSocket.last.url).searchParams.get('since')).toBe('e1:100-7');
    feed.stop();
  });

  it('resumes from the database: snapshots handed over, repeated alerts passed on for the table to drop, and a reconnect asks for the same position', () => {
    const states: unknown[] = [];
    const hosts: unknown[] = [];
    const incidents: IncidentEventData[] = [];
    const alerts: Alert[][] = [];
    const feed = new LiveFeed(
      { severity: [], type: [], host: null },
      {
        onAlerts: (a) => alerts.push(a),
        onHost: (h) => hosts.push(h),
        onIncident: (e) => incidents.push(e),
        onTask: () => {},
        onState: (s) => states.push(s),
        onReload: () => {},
        onSignedOut: () => {},
      },
    );
    feed.start();
    FakeSocket.last.deliver({ type: 'welcome', position: '100-0' });
    FakeSocket.last.deliver({ type: 'alert', position: '100-1', data: { alert_id: 'a-1' } });
    FakeSocket.last.onclose?.({ code: 1012 });
    vi.advanceTimersByTime(200);
    const ws = FakeSocket.last;
    expect(new URL(ws.url).searchParams.get('since')).toBe('100-1');
    ws.deliver({
      type: 'welcome',
      position: '200-5',
      resume: { since: '100-1', status: 'replayed', source: 'database' },
    });
    expect(states.at(-1)).toEqual({ kind: 'resumed', source: 'database', replayed: null });
    ws.deliver({
      type: 'host',
      position: '100-1',
      snapshot: true,
      data: { host_id: 'h-1', hostname: 'web-01', status: 'online', version: 4 },
    });
    ws.deliver({
      type: 'incident',
      position: '100-1',
      snapshot: true,
      data: { event: 'updated', incident },
    });
    ws.deliver({ type: 'alert', position: '100-1', data: { alert_id: 'a-2' } });
    vi.advanceTimersByTime(60);
    expect(hosts).toHaveLength(1);
    expect(incidents).toEqual([{ event: 'updated', incident }]);
    expect(alerts.at(-1)).toEqual([{ alert_id: 'a-2' }]);
    // Cut off mid-backfill: the next resume starts from the same position again.
    ws.onclose?.({ code: 1012 });
    vi.advanceTimersByTime(2000);
    expect(new URL(FakeSocket.last.url).searchParams.get('since')).toBe('100-1');
    feed.stop();
  });
});

describe('LiveFeed and task frames', () => {
  useFakeBrowser();

  it('hands task frames over, skips ones it cannot read, and resumes after their position', () => {
    const tasks: TaskEventData[] = [];
    const events: LiveFeedEvents = {
      onAlerts: () => {},
      onHost: () => {},
      onIncident: () => {},
      onTask: (e) => tasks.push(e),
      onState: () => {},
      onReload: () => {},
      onSignedOut: () => {},
    };
    const feed = new LiveFeed({ severity: [], type: [], host: null }, events);
    feed.start();
    const ws = FakeSocket.last;
    // The task subscription is there from the first frame on, so a resume replays tasks too.
    const subs = JSON.parse(new URL(ws.url).searchParams.get('subscriptions')!);
    expect(subs).toContainEqual({ subscription_id: 'tasks', filters: { kinds: ['task'] } });
    ws.deliver({ type: 'welcome', position: '100-0' });
    const task = { task_id: 't', version: 2, state: 'RUNNING' };
    const output = { task_id: 't', sequence: 1, stream: 'stdout', text: 'hi\n' };
    ws.deliver({ type: 'task', position: '100-1', data: { event: 'output', task, output } });
    // Malformed: no version, an output without a sequence. Skipped, never fatal.
    ws.deliver({
      type: 'task',
      position: '100-2',
      data: { event: 'updated', task: { task_id: 't' } },
    });
    ws.deliver({ type: 'task', position: '100-3', data: { event: 'output', task, output: {} } });
    expect(tasks).toEqual([{ event: 'output', task, output }]);
    ws.onclose?.({ code: 1012 });
    vi.advanceTimersByTime(200);
    expect(new URL(FakeSocket.last.url).searchParams.get('since')).toBe('100-3');
    feed.stop();
  });
});
