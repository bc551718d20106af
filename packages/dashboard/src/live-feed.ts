// The dashboard's one WebSocket to /ws/alerts (protocol: docs/fanout.md). It keeps the last
// stream position it saw, reconnects with backoff, and resumes from that position; when the
// server cannot replay that far back it asks the page to reload from the REST API instead.
import type { HostEventData, IncidentEventData } from '@tripwire/wire';
import type { Alert, AlertQuery, Host, Operator } from './api.js';
import { hostFromFrame } from './host-state.js';
import type { TaskEventData } from './task-types.js';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; attempt: number; inMs: number }
  /** `replayed`: how many frames, when the server knew up front (a replay from memory). */
  | { kind: 'resumed'; source: 'memory' | 'bus' | 'database'; replayed: number | null }
  | { kind: 'reloaded'; reason: string };

export interface LiveFeedEvents {
  onAlerts(alerts: Alert[]): void;
  onHost(host: Host): void;
  /** An incident as it stands after a change (docs/incidents.md); may repeat or come out of order. */
  onIncident(event: IncidentEventData): void;
  /** A task's new state or a chunk of its output (docs/fanout.md); may repeat. */
  onTask(event: TaskEventData): void;
  onState(state: ConnectionState): void;
  /** The table must be refilled from history: first connect, lost resume, or a new filter. */
  onReload(reason: 'initial' | 'unrecoverable' | 'filter'): void;
  onSignedOut(): void;
}

/** The server-side filter for the alerts page's subscription: alert frames only. */
function alertFilters(filter: AlertQuery) {
  return {
    kinds: ['alert'],
    severities: filter.severity,
    tripwire_types: filter.type,
    host_ids: filter.host ? [filter.host] : [],
  };
}

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10_000;

interface Frame {
  type: string;
  position?: string;
  data?: unknown;
  code?: string;
  message?: string;
  operator?: Operator;
  resume?: {
    status: 'replayed' | 'unavailable';
    source?: 'memory' | 'bus' | 'database';
    count?: number;
    reason?: string;
  };
}

export class LiveFeed {
  private ws: WebSocket | null = null;
  private position: string | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private pendingAlerts: Alert[] = [];
  private flushScheduled = false;
  private awaitingSubscribed = false;

  constructor(
    private filter: AlertQuery,
    private readonly events: LiveFeedEvents,
  ) {}

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'signed out');
    this.ws = null;
  }

  /** A new filter: resubscribe, and once the server confirms, the table reloads under it. */
  setFilter(filter: AlertQuery) {
    this.filter = filter;
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.awaitingSubscribed = true;
      this.ws.send(
        JSON.stringify({
          type: 'subscribe',
          subscription_id: 'default',
          filters: alertFilters(filter),
        }),
      );
    } else {
      this.events.onReload('filter');
    }
  }

  private url() {
    // Three subscriptions from the first frame on, so a resume replays each: the alerts page's
    // filter for alerts, every incident (the incidents page filters its own list, and the nav
    // counts all open ones), and every task (its page filters, its detail shows output).
    const q = new URLSearchParams({
      subscriptions: JSON.stringify([
        { subscription_id: 'default', filters: alertFilters(this.filter) },
        { subscription_id: 'incidents', filters: { kinds: ['incident'] } },
        { subscription_id: 'tasks', filters: { kinds: ['task'] } },
      ]),
    });
    if (this.position) q.set('since', this.position);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws/alerts?${q}`;
  }

  private connect() {
    if (this.stopped) return;
    this.events.onState(this.attempt === 0 ? { kind: 'connecting' } : this.reconnectingState());
    // The session cookie authenticates the upgrade: the page never sees the token.
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onmessage = (e) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(e.data)) as Frame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.flush();
      if (this.stopped) return;
      // 1012: the node is restarting; come back at once. Others back off.
      const delay =
        e.code === 1012 && this.attempt === 0
          ? 100
          : Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 1.5 ** this.attempt) *
            (0.75 + Math.random() / 2);
      this.attempt++;
      this.events.onState({ kind: 'reconnecting', attempt: this.attempt, inMs: delay });
      this.timer = setTimeout(() => void this.checkSessionThenConnect(), delay);
    };
  }

  private reconnectingState(): ConnectionState {
    return { kind: 'reconnecting', attempt: this.attempt, inMs: 0 };
  }

  /** A refused upgrade looks like any other close in a browser: ask the API whether we are still signed in. */
  private async checkSessionThenConnect() {
    if (this.attempt > 1) {
      const res = await fetch('/api/session', { credentials: 'same-origin' }).catch(() => null);
      if (res?.status === 401) {
        this.events.onSignedOut();
        return;
      }
    }
    this.connect();
  }

  private handle(frame: Frame) {
    switch (frame.type) {
      case 'alert':
        if (frame.position) this.position = frame.position;
        this.pendingAlerts.push(frame.data as Alert);
        this.scheduleFlush();
        return;
      case 'incident': {
        // Positions are shared with alerts: a resume must not replay what was seen.
        if (frame.position) this.position = frame.position;
        const data = frame.data as Partial<IncidentEventData> | undefined;
        const incident = data?.incident;
        // A frame this page cannot read is skipped, never fatal to the feed.
        if (
          !incident ||
          typeof incident.incident_id !== 'string' ||
          typeof incident.revision !== 'number'
        )
          return;
        this.events.onIncident({ event: data.event ?? 'updated', incident });
        return;
      }
      case 'task': {
        if (frame.position) this.position = frame.position;
        const data = frame.data as TaskEventData | undefined;
        if (isTaskEvent(data)) this.events.onTask(data);
        return;
      }
      case 'host':
        this.events.onHost(hostFromFrame(frame.data as HostEventData));
        return;
      case 'welcome': {
        const resumed = this.position !== null;
        this.attempt = 0;
        if (!resumed) {
          // A fresh start: live from here on, history from the API.
          if (frame.position) this.position = frame.position;
          this.events.onState({ kind: 'live' });
          this.events.onReload('initial');
        } else if (frame.resume?.status === 'replayed') {
          // From the database, the server re-sends hosts and incidents as snapshots (frames with
          // "snapshot": true, handled like any other: newer versions and revisions win) and may
          // repeat alerts the table has (dropped by id). Their position is the `since` we sent,
          // so a reconnect in the middle asks for the same backfill again, never less.
          this.events.onState({
            kind: 'resumed',
            source: frame.resume.source ?? 'memory',
            replayed: frame.resume.count ?? null,
          });
        } else {
          this.position = frame.position ?? null;
          this.events.onState({
            kind: 'reloaded',
            reason: frame.resume?.reason ?? 'the server no longer holds that far back',
          });
          this.events.onReload('unrecoverable');
        }
        return;
      }
      case 'subscribed':
        if (this.awaitingSubscribed) {
          this.awaitingSubscribed = false;
          this.flush();
          this.events.onReload('filter');
        }
        return;
      case 'error':
        if (frame.code === 'stream_gap') {
          this.events.onState({ kind: 'reloaded', reason: frame.message ?? 'stream gap' });
          this.events.onReload('unrecoverable');
        }
        return;
      default:
        return;
    }
  }

  // Alerts reach the page in batches, at most 20 times a second, however fast they arrive.
  private scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => this.flush(), 50);
  }

  private flush() {
    this.flushScheduled = false;
    if (this.pendingAlerts.length === 0) return;
    const batch = this.pendingAlerts;
    this.pendingAlerts = [];
    this.events.onAlerts(batch);
  }
}

/** A task frame this page can read; anything else is skipped, never fatal to the feed. */
function isTaskEvent(data: TaskEventData | undefined): data is TaskEventData {
  return (
    typeof data?.task?.task_id === 'string' &&
    typeof data.task.version === 'number' &&
    (data.output === undefined || typeof data.output.sequence === 'number')
  );
}
