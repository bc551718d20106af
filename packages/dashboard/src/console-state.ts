// Everything a signed-in console shares between views: the alert rows, the live feed that fills
// them, the incidents and the count of open ones, the hosts' live state, the per-minute rate, and
// the connection state.
import { COLLECTING_STATES, type IncidentEventData, isCollectingState } from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';
import { AlertRate } from './alert-rate.js';
import { AlertStore } from './alert-store.js';
import {
  type Alert,
  type AlertQuery,
  ApiError,
  api,
  type Host,
  type IncidentQuery,
  type Operator,
} from './api.js';
import { ChangeNotifier } from './change-notifier.js';
import { mergeHostFrame, mergeHostList } from './host-state.js';
import { IncidentStore } from './incident-store.js';
import { type ConnectionState, LiveFeed } from './live-feed.js';
import { type TaskQuery, TaskStore } from './task-store.js';

/** Incidents read per page of the incidents list. */
const INCIDENT_PAGE = 200;
/** The open count is re-read at most this often while incidents open and close. */
const OPEN_COUNT_MIN_INTERVAL_MS = 250;

export class ConsoleState extends ChangeNotifier {
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
  readonly incidents: IncidentStore;
  /** A page of incidents is being fetched for this store generation, if any. */
  private incidentsLoadingFor: number | null = null;
  incidentsError: string | null = null;
  /** Open incidents (OPEN or ACKNOWLEDGED) for the nav; null until first read. */
  openIncidents: number | null = null;
  private openCountBusy = false;
  private openCountAgain = false;
  readonly tasks: TaskStore;
  private tasksLoadingFor: number | null = null;
  tasksError: string | null = null;
  /** Live alerts that arrived while the chart's counts were being fetched. */
  private rateArrivals: Alert[] | null = null;

  constructor(
    filter: AlertQuery,
    incidentFilter: IncidentQuery,
    taskFilter: TaskQuery,
    /** Who is signed in: the views offer what their role may do. */
    readonly operator: Operator,
    onSignedOut: () => void,
  ) {
    super();
    this.tasks = new TaskStore(taskFilter);
    this.tasks.subscribe(() => this.changed());
    this.store = new AlertStore(filter);
    this.store.subscribe(() => this.changed());
    this.incidents = new IncidentStore(incidentFilter);
    this.incidents.subscribe(() => this.changed());
    this.feed = new LiveFeed(filter, {
      onAlerts: (alerts) => {
        this.store.addLive(alerts);
        this.rate.count(alerts);
        this.rateArrivals?.push(...alerts);
        this.changed();
      },
      onIncident: (event) => this.onIncident(event),
      onTask: (event) => this.tasks.applyEvent(event),
      onHost: (host) => {
        const merged = mergeHostFrame(this.hosts.get(host.host_id), host);
        if (!merged) return;
        this.hosts.set(host.host_id, merged);
        this.changed();
      },
      onState: (state) => {
        this.connection = state;
        // A resume from the database re-sends hosts and incidents, not task frames: the task
        // list (and an open task's panel, which follows the generation) is read again.
        if (state.kind === 'resumed' && state.source === 'database')
          this.setTaskFilter(this.tasks.filter);
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

  setFilter(filter: AlertQuery) {
    this.store.reset(filter);
    this.feed.setFilter(filter);
  }

  /** Refills the table, the chart and the incidents from the API under the current filters. */
  async reload() {
    this.historyOpen = true;
    this.store.reset(this.store.filter);
    this.incidents.reset(this.incidents.filter);
    this.tasks.reset(this.tasks.filter);
    await Promise.all([
      this.loadTasks(),
      this.loadOlder(),
      this.loadRate(),
      this.loadIncidents(),
      this.refreshOpenCount(),
    ]);
  }

  private onIncident({ event, incident }: IncidentEventData) {
    this.incidents.apply(incident);
    // Only opening and closing change how many are open (OPEN ⇄ ACKNOWLEDGED does not).
    if (event !== 'updated' || !isCollectingState(incident.state)) void this.refreshOpenCount();
  }

  /** The incidents page's filter changed: the list reloads under it. */
  setIncidentFilter(filter: IncidentQuery) {
    this.incidents.reset(filter);
    void this.loadIncidents();
  }

  /** The next page of incidents (the first after a reset). Only once the feed is live, as for alerts. */
  async loadIncidents() {
    const store = this.incidents;
    const generation = store.generation;
    if (!this.historyOpen || this.incidentsLoadingFor === generation) return;
    if (store.loaded && !store.hasMore) return;
    this.incidentsLoadingFor = generation;
    this.incidentsError = null;
    this.changed();
    try {
      const page = await api.incidents(store.filter, INCIDENT_PAGE, store.fetched);
      if (generation === store.generation) store.addPage(page.incidents, page.total);
    } catch (err) {
      if (generation === store.generation)
        this.incidentsError = err instanceof ApiError ? err.message : String(err);
    } finally {
      if (this.incidentsLoadingFor === generation) this.incidentsLoadingFor = null;
      this.changed();
    }
  }

  setTaskFilter(filter: TaskQuery) {
    this.tasks.reset(filter);
    void this.loadTasks();
  }

  /** The next page of tasks (the first after a reset); only once the feed is live. */
  async loadTasks() {
    const store = this.tasks;
    const generation = store.generation;
    if (!this.historyOpen || this.tasksLoadingFor === generation) return;
    if (store.loaded && !store.nextCursor) return;
    this.tasksLoadingFor = generation;
    this.tasksError = null;
    this.changed();
    try {
      const page = await api.tasks(store.filter, store.nextCursor);
      if (generation === store.generation) store.addPage(page.tasks, page.next_cursor);
    } catch (err) {
      if (generation === store.generation)
        this.tasksError = err instanceof ApiError ? err.message : String(err);
    } finally {
      if (this.tasksLoadingFor === generation) this.tasksLoadingFor = null;
      this.changed();
    }
  }

  get loadingTasks() {
    return this.tasksLoadingFor !== null;
  }

  get loadingIncidents() {
    return this.incidentsLoadingFor !== null;
  }

  /** Re-reads the open count: one request at a time, the last change always counted. */
  async refreshOpenCount(): Promise<void> {
    if (this.openCountBusy) {
      this.openCountAgain = true;
      return;
    }
    this.openCountBusy = true;
    try {
      const { total } = await api.incidents(
        { state: [...COLLECTING_STATES], severity: [], host: null },
        1,
      );
      this.openIncidents = total;
      this.changed();
    } catch {
      // Kept as it was; the next opening or closing, or a reload, tries again.
    }
    await new Promise((r) => setTimeout(r, OPEN_COUNT_MIN_INTERVAL_MS));
    this.openCountBusy = false;
    if (this.openCountAgain) {
      this.openCountAgain = false;
      await this.refreshOpenCount();
    }
  }

  /**
   * Refills the chart: the API counts up to `counted_up_to` (the database's clock, which
   * stamps received_at), live alerts from then on, including those that came while the
   * request was out; so none is counted twice.
   */
  private async loadRate() {
    const arrived: Alert[] = [];
    this.rateArrivals = arrived;
    try {
      const { buckets, counted_up_to } = await api.alertsPerMinute(this.store.filter);
      this.rate.fill(buckets, Date.parse(counted_up_to));
      this.rate.count(arrived);
      this.changed();
    } catch {
      // The chart keeps counting live alerts; the next reload fills it in.
    } finally {
      if (this.rateArrivals === arrived) this.rateArrivals = null;
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
      this.hosts = mergeHostList(this.hosts, hosts);
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
