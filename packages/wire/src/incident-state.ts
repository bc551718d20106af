/**
 * An incident's lifecycle states (PostgreSQL's incident_state enum). The transitions
 * allowed between them are storage's rule (INCIDENT_TRANSITIONS in @tripwire/storage).
 */
export const INCIDENT_STATES = ['OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'FALSE_POSITIVE'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** States in which an incident still collects alerts: the open ones. */
export const COLLECTING_STATES = ['OPEN', 'ACKNOWLEDGED'] as const satisfies IncidentState[];
export type CollectingState = (typeof COLLECTING_STATES)[number];

export const isCollectingState = (state: IncidentState): state is CollectingState =>
  (COLLECTING_STATES as readonly IncidentState[]).includes(state);

/**
 * Final states, which need a resolution method and a root cause. Alerts that come
 * after an incident reached one open a new incident.
 */
export const FINAL_STATES = ['RESOLVED', 'FALSE_POSITIVE'] as const satisfies IncidentState[];
export type FinalState = (typeof FINAL_STATES)[number];

export const isFinalState = (state: IncidentState): state is FinalState =>
  (FINAL_STATES as readonly IncidentState[]).includes(state);
