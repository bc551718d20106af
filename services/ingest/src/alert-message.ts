import { serializeAlertMessage } from '@tripwire/bus';
import type { Severity, TripwireType } from '@tripwire/storage';

/** What an alert's bus message says: a stored alert, with its host's name and receive time. */
export interface AlertMessageFacts {
  alertId: string;
  hostId: string;
  hostname: string;
  occurredAtUs: number;
  receivedAt: Date;
  tripwireType: TripwireType;
  ruleName: string;
  severity: Severity;
  eventDetailJson: string | null;
  /** The suppression that muted it, if one did. */
  suppressionId?: string | null;
}

const isoFromUs = (us: number) => new Date(Math.floor(us / 1000)).toISOString();

/** The alert's bus message, as the intake publishes it and the republish sweep publishes it again. */
export function alertMessage(a: AlertMessageFacts, traceparent?: string): string {
  return serializeAlertMessage(
    {
      alert_id: a.alertId,
      host_id: a.hostId,
      hostname: a.hostname,
      timestamp: isoFromUs(a.occurredAtUs),
      timestamp_us: a.occurredAtUs,
      received_at: a.receivedAt.toISOString(),
      tripwire_type: a.tripwireType,
      rule_name: a.ruleName,
      severity: a.severity,
      suppression_id: a.suppressionId ?? null,
    },
    a.eventDetailJson,
    traceparent,
  );
}
