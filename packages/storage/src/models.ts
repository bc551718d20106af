import type {
  HostStatus,
  IncidentNote,
  IncidentState,
  ResolutionMethod,
  Severity,
  TripwireType,
} from '@tripwire/wire';

// The wire's value lists (@tripwire/wire), exported here too: they are part of storage's models.
export {
  type HostStatus,
  INCIDENT_STATES,
  type IncidentNote,
  type IncidentState,
  RESOLUTION_METHODS,
  type ResolutionMethod,
  SEVERITIES,
  type Severity,
  TRIPWIRE_TYPES,
  type TripwireType,
} from '@tripwire/wire';

/** An alert as the ingest service hands it to storage, already validated. */
export interface NewAlert {
  alertId: string;
  hostId: string;
  /** When the sensor saw it, Unix microseconds. */
  occurredAtUs: number;
  tripwireType: TripwireType;
  severity: Severity;
  ruleName: string;
  /** A JSON document as text, or null. */
  eventDetailJson: string | null;
  /** The suppression that mutes it (ingest's match): stored, but in no incident. */
  suppressionId?: string | null;
}

/** A stored alert row. */
export interface Alert {
  alertId: string;
  hostId: string;
  receivedAt: Date;
  occurredAtUs: number;
  tripwireType: TripwireType;
  severity: Severity;
  ruleName: string;
  eventDetail: unknown;
  /** The suppression that muted it, or null. */
  suppressionId: string | null;
}

export interface Host {
  hostId: string;
  hostname: string;
  platform: string;
  agentVersion: string;
  status: HostStatus;
  registeredAt: Date;
  lastSeen: Date | null;
  /** Bumped by every change of status or stream holder: of two copies, the higher is newer. */
  statusVersion: number;
}

export interface TripwireRule {
  ruleId: string;
  /** null for a global rule. */
  hostId: string | null;
  name: string;
  tripwireType: TripwireType;
  severity: Severity;
  target: string;
  config: Record<string, unknown>;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface AuditEntry {
  seq: number;
  occurredAt: Date;
  actor: string;
  action: string;
  hostId: string | null;
  target: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Alerts of one host, rule and tripwire type, grouped within the correlation window. */
export interface Incident {
  incidentId: string;
  hostId: string;
  hostname: string;
  ruleName: string;
  tripwireType: TripwireType;
  state: IncidentState;
  /** The highest severity of its alerts so far; never lowered. */
  maxSeverity: Severity;
  alertCount: number;
  firstSeen: Date;
  lastSeen: Date;
  assignee: string | null;
  /** Oldest first; only ever appended to. */
  notes: IncidentNote[];
  resolutionMethod: ResolutionMethod | null;
  rootCause: string | null;
  /** 'ingest' for one opened by correlation, else the operator who created it. */
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  resolvedAt: Date | null;
  /** Bumped by every operator change; pass it back as expectedVersion. */
  version: number;
}
