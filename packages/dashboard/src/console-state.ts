// Everything a signed-in console shares between views: the alert rows, the live feed that fills
// them, the hosts' live state, the per-minute rate, and the connection state.
import { useEffect, useState } from 'preact/hooks';
import { AlertRate } from './alert-rate.js';
import { AlertStore } from './alert-store.js';
import { type AlertQuery, ApiError, api, type Host } from './api.js';
import { type ConnectionState, LiveFeed } from './live-feed.js';

export class ConsoleState {
  readonly store: AlertStore;
  readonly feed: LiveFeed;
  readonly rate = new AlertRate();
  connection: ConnectionState = { kind: 'connecting' };
  hosts = new Map<string, Host>();
  /**
   * History is read only once the feed is live (its first reload): a page fetched before the
   * subscription exists could miss alerts, and would be wiped when the feed starts.
   */
  private historyOpen = false;
  /** The store generation a history page is being fetched for, if any. */
  private loadingFor: number | null = null;
  historyError: string | null = null;
  private listeners = new Set<() => void>();

  constructor(filter: AlertQuery, onSignedOut: () => void) {
    this.store = new AlertStore(filter);
    this.store.subscribe(() => this.changed());
    this.feed = new LiveFeed(filter, {
      onAlerts: (alerts) => {
        this.store.addLive(alerts);
        this.rate.count(alerts);
        this.changed();
      },
      onHost: (host) => {
        const known = this.hosts.get(host.host_id);
        this.hosts.set(host.host_id, { ...known, ...host });
        this.changed();
      },
      onState: (state) => {
        this.connection = state;
        this.changed();
      },
      onReload: () => void this.reload(),
      onSignedOut,
    });
  }

  start() {
    this.feed.start();
    void this.refreshHosts();
  }

  stop() {
    this.feed.stop();
  }

  subscribe(listener: () => void) {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private changed() {
    for (const l of this.listeners) l();
  }

  setFilter(filter: AlertQuery) {
    this.store.reset(filter);
    this.feed.setFilter(filter);
  }

  /** Refills the table and the chart from the API under the current filter. */
  async reload() {
    this.historyOpen = true;
    this.store.reset(this.store.filter);
    await Promise.all([this.loadOlder(), this.loadRate()]);
  }

  private async loadRate() {
    try {
      const asOf = Date.now();
      const { buckets } = await api.alertsPerMinute(this.store.filter);
      this.rate.fill(buckets, asOf);
      this.changed();
    } catch {
      // The chart keeps counting live alerts; the next reload fills it in.
    }
  }

  /** The next older page, for scrolling back past what is loaded. */
  async loadOlder() {
    const { store } = this;
    const generation = store.generation;
    if (!this.historyOpen || this.loadingFor === generation || store.historyDone) return;
    this.loadingFor = generation;
    this.historyError = null;
    this.changed();
    try {
      const page = await api.alerts(store.filter, { cursor: store.cursor, to: store.olderThan });
      if (generation === store.generation) store.addHistory(page.alerts, page.next_cursor);
    } catch (err) {
      if (generation === store.generation)
        this.historyError = err instanceof ApiError ? err.message : String(err);
    } finally {
      if (this.loadingFor === generation) this.loadingFor = null;
      this.changed();
    }
  }

  get loadingHistory() {
    return this.loadingFor !== null;
  }

  async refreshHosts() {
    try {
      const { hosts } = await api.hosts();
      this.hosts = new Map(hosts.map((h) => [h.host_id, h]));
      this.changed();
    } catch {
      // Shown as stale until the next refresh; live host frames still arrive.
    }
  }
}

/** Re-renders the calling component whenever the console state changes. */
export function useConsole(state: ConsoleState) {
  const [, setVersion] = useState(0);
  useEffect(() => state.subscribe(() => setVersion((n) => n + 1)), [state]);
}
