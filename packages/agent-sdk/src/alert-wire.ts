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
import { DEFAULT_DETAIL_MAX_BYTES } from './alert-limits.js';
import { clipDetail } from './detail-clip.js';
import type { OutboxAlert } from './outbox-records.js';
import { storableRuleName } from './rule-name.js';

/**
 * Checks a sensor's draft and gives it an alert_id; throws a TypeError naming what is wrong.
 * What the server would refuse but the agent can fix is fixed here: the detail is clipped to
 * `detailMaxBytes` and repaired (detail-clip.ts), the rule name made storable (rule-name.ts).
 */
export function alertFromDraft(
  draft: AlertDraft,
  detailMaxBytes = DEFAULT_DETAIL_MAX_BYTES,
): OutboxAlert {
  if (!TRIPWIRE_TYPES.includes(draft.tripwireType))
    throw new TypeError(
      `tripwireType must be one of ${TRIPWIRE_TYPES.join(', ')}, not ${draft.tripwireType}`,
    );
  if (!SEVERITIES.includes(draft.severity))
    throw new TypeError(`severity must be one of ${SEVERITIES.join(', ')}, not ${draft.severity}`);
  if (typeof draft.ruleName !== 'string') throw new TypeError('ruleName must be a string');
  const ruleName = storableRuleName(draft.ruleName);
  let detail: Record<string, unknown> = draft.detail ?? {};
  if (ruleName !== draft.ruleName) {
    // The name as the sensor gave it stays in the detail (clipped there like any field).
    detail = { ...detail, original_rule_name: draft.ruleName };
  }
  let detailJson: string;
  try {
    detailJson = clipDetail(detail, detailMaxBytes).json;
  } catch (err) {
    throw new TypeError(`detail must be serializable as JSON: ${(err as Error).message}`);
  }
  const occurredAt = draft.occurredAt ?? new Date();
  if (Number.isNaN(occurredAt.getTime())) throw new TypeError('occurredAt is not a valid date');
  return {
    alertId: randomUUID(),
    tripwireType: draft.tripwireType,
    severity: draft.severity,
    ruleName,
    timestampUs: occurredAt.getTime() * 1000,
    detailJson,
  };
}

/**
 * The wire message for an outbox alert. A record this SDK did not write (a newer version's, a
 * damaged one) is sent with what it cannot encode left unset, so the server refuses that one
 * alert with a code (and the agent dead-letters it) instead of the encoder failing the whole
 * stream again on every reconnect.
 */
export function toAgentEvent(alert: OutboxAlert, hostId: string): AgentEvent {
  return {
    alertId: alert.alertId,
    hostId,
    tripwireType: TripwireType[alert.tripwireType] ?? TripwireType.TRIPWIRE_TYPE_UNSPECIFIED,
    severity: Severity[alert.severity] ?? Severity.SEVERITY_UNSPECIFIED,
    timestampUs: Number.isSafeInteger(alert.timestampUs) ? alert.timestampUs : -1,
    ruleName: typeof alert.ruleName === 'string' ? alert.ruleName : '',
    eventDetailJson: typeof alert.detailJson === 'string' ? alert.detailJson : '',
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
