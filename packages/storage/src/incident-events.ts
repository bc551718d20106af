import type { BusMessage } from '@tripwire/bus';
import { type IncidentEventKind, type IncidentJson, isFinalState } from '@tripwire/wire';
import type { Incident } from './models.js';

/** The incident as REST, WebSocket, the bus and the dashboard show it. */
export function toIncidentJson(i: Incident): IncidentJson {
  return {
    incident_id: i.incidentId,
    host_id: i.hostId,
    hostname: i.hostname,
    rule_name: i.ruleName,
    tripwire_type: i.tripwireType,
    state: i.state,
    max_severity: i.maxSeverity,
    alert_count: i.alertCount,
    first_seen: i.firstSeen.toISOString(),
    last_seen: i.lastSeen.toISOString(),
    assignee: i.assignee,
    notes: i.notes,
    resolution_method: i.resolutionMethod,
    root_cause: i.rootCause,
    created_by: i.createdBy,
    created_at: i.createdAt.toISOString(),
    updated_at: i.updatedAt.toISOString(),
    resolved_at: i.resolvedAt?.toISOString() ?? null,
    version: i.version,
    revision: incidentRevision(i),
  };
}

/** Grows with every change: operator changes bump version, new alerts bump alert_count. */
export const incidentRevision = (i: Pick<Incident, 'version' | 'alertCount'>) =>
  i.version + i.alertCount;

/**
 * The bus message for an incident that was just opened (`created`), closed
 * (`resolved`: it entered RESOLVED or FALSE_POSITIVE) or otherwise changed.
 */
export function incidentMessage(incident: Incident, opened: boolean): BusMessage {
  const event: IncidentEventKind = opened
    ? 'created'
    : isFinalState(incident.state)
      ? 'resolved'
      : 'updated';
  return { type: 'incident', data: { event, incident: toIncidentJson(incident) } };
}
