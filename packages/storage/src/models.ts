export const TRIPWIRE_TYPES = ['FILE', 'NETWORK', 'PROCESS'] as const;
export type TripwireType = (typeof TRIPWIRE_TYPES)[number];

export const SEVERITIES = ['INFO', 'WARN', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type HostStatus = 'online' | 'offline';

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
}

export interface Host {
  hostId: string;
  hostname: string;
  platform: string;
  agentVersion: string;
  status: HostStatus;
  registeredAt: Date;
  lastSeen: Date | null;
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
