import type { IncidentState } from './incident-state.js';
import type { ResolutionMethod } from './resolution-method.js';
import type { Severity } from './severity.js';
import type { TripwireType } from './tripwire-type.js';

export interface IncidentNote {
  author: string;
  /** ISO 8601, UTC. */
  at: string;
  text: string;
}

/**
 * An incident as every interface shows it: REST bodies, WebSocket frames, bus messages and
 * the dashboard (docs/incidents.md); snake_case like alerts.
 */
export interface IncidentJson {
  incident_id: string;
  host_id: string;
  hostname: string;
  rule_name: string;
  tripwire_type: TripwireType;
  state: IncidentState;
  /** The highest severity of its alerts so far; never lowered. */
  max_severity: Severity;
  alert_count: number;
  first_seen: string;
  last_seen: string;
  assignee: string | null;
  /** Oldest first; only ever appended to. */
  notes: IncidentNote[];
  resolution_method: ResolutionMethod | null;
  root_cause: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  /** Bumped by every operator change; send it back as expected_version. */
  version: number;
  /**
   * version + alert_count: grows with every change, by an operator (version) or
   * by new alerts (alert_count). Of two copies of an incident, the one with the
   * higher revision is newer; the same revision is the same change (a duplicate).
   */
  revision: number;
}

/** What happened to an incident: opened, changed (alerts, state, assignee, notes), or closed. */
export type IncidentEventKind = 'created' | 'updated' | 'resolved';

/** The `data` of a WebSocket `incident` frame and of the bus's incident message. */
export interface IncidentEventData {
  event: IncidentEventKind;
  incident: IncidentJson;
}
