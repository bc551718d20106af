// The rows of the alert table, newest first: live alerts on top, older pages from the REST API
// at the bottom, each alert once. Plain TypeScript; the views subscribe to changes.
import type { Alert, AlertQuery } from './api.js';
import { ChangeNotifier } from './change-notifier.js';

export interface AlertRow extends Alert {
  /** Page time when it arrived live (0 for rows loaded from history): marks new rows. */
  arrivedAt: number;
}

/** Rows kept in the page; beyond this the oldest go, and scrolling back reloads them. */
export const MAX_ROWS = 100_000;

export function matchesFilter(filter: AlertQuery, a: Alert): boolean {
  return (
    (filter.severity.length === 0 || filter.severity.includes(a.severity)) &&
    (filter.type.length === 0 || filter.type.includes(a.tripwire_type)) &&
    (!filter.host || filter.host === a.host_id) &&
    (!filter.q || matchesSearch(filter.q, a))
  );
}

/**
 * The server's search (storage alert-search.ts) applied to a live alert, which the WebSocket
 * filter cannot search: the query, JSON-escaped, inside the rule name or the detail's JSON
 * text, ignoring case. (A search spanning the JSON's punctuation, which PostgreSQL writes
 * with a space after `:` and `,`, may match here and not there: docs/fanout.md "Search".)
 */
export function matchesSearch(q: string, a: Alert): boolean {
  const needle = JSON.stringify(q.trim()).slice(1, -1).toLowerCase();
  const text = `${JSON.stringify(a.rule_name)} ${JSON.stringify(a.event_detail ?? null)}`;
  return text.toLowerCase().includes(needle);
}

export class AlertStore extends ChangeNotifier {
  rows: AlertRow[] = [];
  /** Live alerts held back while paused. */
  held: AlertRow[] = [];
  paused = false;
  /** Where the next older page starts; null once history is exhausted. */
  cursor: string | null = null;
  historyDone = false;
  /** Older rows dropped for the cap: older pages then continue before this time. */
  private truncatedBefore: string | null = null;
  private ids = new Set<string>();
  /** Bumped on every reset, so a page requested for an old filter is discarded. */
  generation = 0;

  constructor(public filter: AlertQuery) {
    super();
  }

  reset(filter: AlertQuery) {
    this.filter = filter;
    this.rows = [];
    this.held = [];
    this.ids.clear();
    this.cursor = null;
    this.historyDone = false;
    this.truncatedBefore = null;
    this.generation++;
    this.changed();
  }

  /** Live alerts, oldest first as the stream delivers them. Returns those that were new. */
  addLive(alerts: Alert[]): AlertRow[] {
    const now = Date.now();
    const fresh: AlertRow[] = [];
    for (const a of alerts) {
      if (!matchesFilter(this.filter, a) || this.ids.has(a.alert_id)) continue;
      this.ids.add(a.alert_id);
      fresh.push({ ...a, arrivedAt: now });
    }
    if (fresh.length === 0) return fresh;
    fresh.reverse();
    if (this.paused) this.held = fresh.concat(this.held);
    else this.rows = fresh.concat(this.rows);
    this.enforceCap();
    this.changed();
    return fresh;
  }

  /** An older page from the REST API, newest first. */
  addHistory(alerts: Alert[], nextCursor: string | null) {
    for (const a of alerts) {
      if (this.ids.has(a.alert_id)) continue;
      this.ids.add(a.alert_id);
      this.rows.push({ ...a, arrivedAt: 0 });
    }
    this.cursor = nextCursor;
    this.historyDone = nextCursor === null;
    this.changed();
  }

  setPaused(paused: boolean) {
    this.paused = paused;
    if (!paused && this.held.length) {
      this.rows = this.held.concat(this.rows);
      this.held = [];
      this.enforceCap();
    }
    this.changed();
  }

  private enforceCap() {
    const over = this.rows.length + this.held.length - MAX_ROWS;
    if (over <= 0) return;
    const dropped = this.rows.splice(this.rows.length - over, over);
    for (const r of dropped) this.ids.delete(r.alert_id);
    this.truncatedBefore = this.rows.at(-1)?.received_at ?? null;
    this.cursor = null;
    this.historyDone = false;
  }

  /** The `to` bound for the next older page when the cursor was given up for the cap. */
  get olderThan(): string | null {
    return this.cursor ? null : this.truncatedBefore;
  }
}
