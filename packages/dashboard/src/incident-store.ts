// The rows of the incidents page: the incidents matching its filter, highest severity first,
// then the most recently active. Filled from GET /api/incidents and kept current by the
// WebSocket's `incident` frames. Of two copies of an incident the higher `revision` is the
// newer (docs/incidents.md), so a frame or a page that is older than what is shown is ignored,
// whichever order they arrive in. Plain TypeScript, like AlertStore; the views subscribe.
import { compareSeverity, type IncidentJson } from '@tripwire/wire';
import type { IncidentQuery } from './api.js';
import { ChangeNotifier } from './change-notifier.js';

/** The page's order: highest severity first, then most recent last_seen (then id, for a stable order). */
export function compareIncidents(a: IncidentJson, b: IncidentJson): number {
  return (
    compareSeverity(b.max_severity, a.max_severity) ||
    Date.parse(b.last_seen) - Date.parse(a.last_seen) ||
    (a.incident_id < b.incident_id ? -1 : a.incident_id > b.incident_id ? 1 : 0)
  );
}

export function matchesIncidentFilter(filter: IncidentQuery, i: IncidentJson): boolean {
  return (
    (filter.state.length === 0 || filter.state.includes(i.state)) &&
    (filter.severity.length === 0 || filter.severity.includes(i.max_severity)) &&
    (!filter.host || filter.host === i.host_id)
  );
}

export class IncidentStore extends ChangeNotifier {
  /** The incidents matching the filter, in the page's order. */
  rows: IncidentJson[] = [];
  /** Every incident seen, filtered or not, at its highest revision: the detail panel reads it. */
  private known = new Map<string, IncidentJson>();
  /** Whether the first page has arrived since the last reset. */
  loaded = false;
  /** How many the API has for the filter (as of the last page), and how many of them were read. */
  total = 0;
  fetched = 0;
  /** Bumped on every reset, so a page requested for an old filter is discarded. */
  generation = 0;

  constructor(public filter: IncidentQuery) {
    super();
  }

  get(id: string): IncidentJson | undefined {
    return this.known.get(id);
  }

  /** More pages wait at the API. */
  get hasMore() {
    return this.loaded && this.fetched < this.total;
  }

  /** Empties the rows for a new filter or a reload; what is known stays known (by revision). */
  reset(filter: IncidentQuery) {
    this.filter = filter;
    this.rows = [];
    this.loaded = false;
    this.total = 0;
    this.fetched = 0;
    this.generation++;
    this.changed();
  }

  /**
   * A copy of an incident from a frame or a response. Returns false (and changes nothing) when
   * it is not newer than the copy held: an equal revision is the same change.
   */
  apply(incident: IncidentJson): boolean {
    if (!this.take(incident)) return false;
    this.place(incident);
    this.changed();
    return true;
  }

  /** A page from GET /api/incidents (offset order); a newer copy already held wins. */
  addPage(incidents: IncidentJson[], total: number) {
    for (const i of incidents) {
      this.take(i);
      this.place(this.known.get(i.incident_id)!, true);
    }
    this.fetched += incidents.length;
    this.total = total;
    this.loaded = true;
    this.changed();
  }

  private take(incident: IncidentJson): boolean {
    const held = this.known.get(incident.incident_id);
    if (held && held.revision >= incident.revision) return false;
    this.known.set(incident.incident_id, incident);
    return true;
  }

  /** Moves the incident to its place in the rows, or out of them when it left the filter. */
  private place(incident: IncidentJson, fromPage = false) {
    const rows = this.rows.filter((r) => r.incident_id !== incident.incident_id);
    const wasShown = rows.length !== this.rows.length;
    if (matchesIncidentFilter(this.filter, incident)) {
      const before = rows.findIndex((r) => compareIncidents(incident, r) < 0);
      if (before >= 0) rows.splice(before, 0, incident);
      // Past the last row read while more pages wait: it arrives with its page.
      else if (fromPage || wasShown || !this.hasMore) rows.push(incident);
    }
    this.rows = rows;
  }
}
