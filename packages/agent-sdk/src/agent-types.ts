// The vocabulary shared by the SDK and the sensors that feed it.
import type { Severity, TripwireType } from '@tripwire/wire';

/** The SDK's names for the wire's values (@tripwire/wire), as sensors written against it use them. */
export type TripwireTypeName = TripwireType;
export type SeverityName = Severity;

/** What a sensor saw; the SDK gives it an alert_id, the host_id and a timestamp, and queues it. */
export interface AlertDraft {
  tripwireType: TripwireTypeName;
  severity: SeverityName;
  ruleName: string;
  /** Everything an investigator needs; sent as event_detail_json (at most 64 KiB). */
  detail: Record<string, unknown>;
  /** When the sensor saw it; default now. */
  occurredAt?: Date;
}

/** A rule as the agent uses it: from the server's RulesUpdate, or from a local file. */
export interface AgentRule {
  ruleId: string;
  /** null for a global rule. */
  hostId: string | null;
  name: string;
  tripwireType: TripwireTypeName;
  severity: SeverityName;
  /** FILE: a path (file or directory); PROCESS: a pattern; NETWORK: a port, or "listen". */
  target: string;
  config: Record<string, unknown>;
  enabled: boolean;
}
