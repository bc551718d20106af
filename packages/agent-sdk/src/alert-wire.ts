// Conversions between the SDK's alerts and rules and the tripwire.v1 wire messages.
import { randomUUID } from 'node:crypto';
import {
  type AgentEvent,
  Severity,
  TripwireType,
  type TripwireRule as WireRule,
} from '@tripwire/proto';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import type { AgentRule, AlertDraft, SeverityName, TripwireTypeName } from './agent-types.js';
import type { OutboxAlert } from './outbox-records.js';

/** The most event detail any ingest configuration accepts (MAX_EVENT_DETAIL_BYTES caps at 1 MiB). */
export const MAX_DETAIL_BYTES = 1024 * 1024;

/** Checks a sensor's draft and gives it an alert_id; throws a TypeError/RangeError naming what is wrong. */
export function alertFromDraft(draft: AlertDraft): OutboxAlert {
  if (!TRIPWIRE_TYPES.includes(draft.tripwireType))
    throw new TypeError(
      `tripwireType must be one of ${TRIPWIRE_TYPES.join(', ')}, not ${draft.tripwireType}`,
    );
  if (!SEVERITIES.includes(draft.severity))
    throw new TypeError(`severity must be one of ${SEVERITIES.join(', ')}, not ${draft.severity}`);
  if (typeof draft.ruleName !== 'string') throw new TypeError('ruleName must be a string');
  let detailJson: string;
  try {
    detailJson = JSON.stringify(draft.detail ?? {});
  } catch (err) {
    throw new TypeError(`detail must be serializable as JSON: ${(err as Error).message}`);
  }
  if (Buffer.byteLength(detailJson) > MAX_DETAIL_BYTES)
    throw new RangeError(`detail is larger than ${MAX_DETAIL_BYTES} bytes as JSON`);
  const occurredAt = draft.occurredAt ?? new Date();
  if (Number.isNaN(occurredAt.getTime())) throw new TypeError('occurredAt is not a valid date');
  return {
    alertId: randomUUID(),
    tripwireType: draft.tripwireType,
    severity: draft.severity,
    ruleName: draft.ruleName,
    timestampUs: occurredAt.getTime() * 1000,
    detailJson,
  };
}

export function toAgentEvent(alert: OutboxAlert, hostId: string): AgentEvent {
  return {
    alertId: alert.alertId,
    hostId,
    tripwireType: TripwireType[alert.tripwireType],
    severity: Severity[alert.severity],
    timestampUs: alert.timestampUs,
    ruleName: alert.ruleName,
    eventDetailJson: alert.detailJson,
  };
}

/** A rule from a RulesUpdate, or undefined when it names a type or severity this SDK does not know. */
export function fromWireRule(rule: WireRule): AgentRule | undefined {
  const tripwireType = TripwireType[rule.tripwireType] as TripwireTypeName;
  const severity = Severity[rule.severity] as SeverityName;
  if (!TRIPWIRE_TYPES.includes(tripwireType) || !SEVERITIES.includes(severity)) return undefined;
  let config: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(rule.configJson || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) config = parsed;
  } catch {
    // A rule with unreadable settings still applies with the sensor's defaults.
  }
  return {
    ruleId: rule.ruleId,
    hostId: rule.hostId || null,
    name: rule.name,
    tripwireType,
    severity,
    target: rule.target,
    config,
    enabled: rule.enabled,
  };
}
