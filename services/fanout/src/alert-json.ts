import type { Alert } from '@tripwire/storage';
import type { AlertJson } from '@tripwire/wire';

/** An alert as the REST API shows it (GET /api/alerts and an incident's alerts). */
export const alertJson = (a: Alert): AlertJson => ({
  alert_id: a.alertId,
  host_id: a.hostId,
  timestamp: new Date(Math.floor(a.occurredAtUs / 1000)).toISOString(),
  timestamp_us: a.occurredAtUs,
  received_at: a.receivedAt.toISOString(),
  tripwire_type: a.tripwireType,
  severity: a.severity,
  rule_name: a.ruleName,
  event_detail: a.eventDetail,
  suppression_id: a.suppressionId,
});
