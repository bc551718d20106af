import { type AgentEvent, RejectCode, Severity, TripwireType } from '@tripwire/proto';
import type {
  Host,
  NewAlert,
  Severity as SeverityName,
  TripwireType as TypeName,
} from '@tripwire/storage';
import {
  clipForEcho,
  hasControlCharacters,
  MAX_ECHO_LENGTH,
  MAX_RULE_NAME_LENGTH,
  quoteForEcho as show,
} from '@tripwire/wire';
import { type DetailFlags, storedDetail, unstorableString } from './event-detail.js';

export interface ValidationLimits {
  maxEventDetailBytes: number;
  maxFutureSkewMs: number;
}

export type Validation =
  | {
      ok: true;
      alert: NewAlert;
      /** The detail was larger than maxEventDetailBytes and is stored clipped. */
      clipped: boolean;
      /** The timestamp was too far ahead: stored at the server's time, the detail flagged. */
      skewed: boolean;
    }
  /** alertId is clipped to MAX_ECHO_LENGTH: safe to send back and to log. */
  | { ok: false; alertId: string; code: RejectCode; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const TYPE_NAMES: Partial<Record<TripwireType, TypeName>> = {
  [TripwireType.FILE]: 'FILE',
  [TripwireType.NETWORK]: 'NETWORK',
  [TripwireType.PROCESS]: 'PROCESS',
};
const SEVERITY_NAMES: Partial<Record<Severity, SeverityName>> = {
  [Severity.INFO]: 'INFO',
  [Severity.WARN]: 'WARN',
  [Severity.CRITICAL]: 'CRITICAL',
};

/**
 * Checks one alert from the host that owns the calling token: alert_id is a UUID; host_id is
 * that host's; tripwire_type and severity are set to a known value; rule_name is short
 * printable text; timestamp_us is Unix microseconds (0 = now; too far ahead of the server clock
 * is replaced by the server's time and flagged); event_detail_json is empty or JSON nested at most
 * MAX_JSON_DEPTH deep that PostgreSQL can store (clipped to the size limit, see event-detail.ts).
 */
export function validateAgentEvent(
  event: AgentEvent,
  host: Host,
  limits: ValidationLimits,
  nowUs = Date.now() * 1000,
): Validation {
  const reject = (code: RejectCode, reason: string): Validation => ({
    ok: false,
    alertId: clipForEcho(event.alertId, MAX_ECHO_LENGTH),
    code,
    reason,
  });
  if (!event.alertId)
    return reject(RejectCode.REJECT_CODE_INVALID_ALERT_ID, 'alert_id is required');
  if (!UUID.test(event.alertId)) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_ALERT_ID,
      `alert_id must be a UUID, got ${show(event.alertId)}`,
    );
  }
  if (!event.hostId) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_HOST_ID,
      'host_id is required: use the one RegisterAgent returned',
    );
  }
  if (event.hostId.toLowerCase() !== host.hostId) {
    return reject(
      RejectCode.REJECT_CODE_HOST_MISMATCH,
      `host_id ${show(event.hostId)} is not the host this agent token was issued to`,
    );
  }
  const tripwireType = TYPE_NAMES[event.tripwireType];
  if (!tripwireType) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_TRIPWIRE_TYPE,
      `tripwire_type must be FILE, NETWORK or PROCESS, got ${event.tripwireType === 0 ? 'none' : event.tripwireType}`,
    );
  }
  const severity = SEVERITY_NAMES[event.severity];
  if (!severity) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_SEVERITY,
      `severity must be INFO, WARN or CRITICAL, got ${event.severity === 0 ? 'none' : event.severity}`,
    );
  }
  if (
    event.ruleName.length > MAX_RULE_NAME_LENGTH ||
    hasControlCharacters(event.ruleName) ||
    unstorableString(event.ruleName)
  ) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_RULE_NAME,
      `rule_name must be at most ${MAX_RULE_NAME_LENGTH} characters of printable text ` +
        `without control characters (CR, LF, ESC, ...), got ${show(event.ruleName)}`,
    );
  }
  const when = occurredAt(event.timestampUs, nowUs, limits.maxFutureSkewMs);
  if (!when) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_TIMESTAMP,
      'timestamp_us must be Unix microseconds (or 0 for now)',
    );
  }
  const detail = storedDetail(event.eventDetailJson, when.flags, limits.maxEventDetailBytes);
  if (!detail.ok) {
    return reject(
      detail.fault === 'too_deep'
        ? RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_DEEP
        : RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL,
      detail.reason,
    );
  }
  return {
    ok: true,
    clipped: detail.clipped,
    skewed: when.skewed,
    alert: {
      alertId: event.alertId.toLowerCase(),
      hostId: host.hostId,
      occurredAtUs: when.occurredAtUs,
      tripwireType,
      severity,
      ruleName: event.ruleName,
      eventDetailJson: detail.json,
    },
  };
}

/**
 * When the alert happened: timestamp_us (0 = now); null when it is not Unix microseconds. A time
 * more than `maxFutureSkewMs` ahead of the server is a fast agent clock: the alert is kept at the
 * server's receive time, and the detail says by how much the agent was ahead and what it sent.
 */
function occurredAt(
  timestampUs: number,
  nowUs: number,
  maxFutureSkewMs: number,
): { occurredAtUs: number; skewed: boolean; flags: DetailFlags } | null {
  const us = timestampUs === 0 ? nowUs : timestampUs;
  if (!Number.isSafeInteger(us) || us < 0) return null;
  if ((us - nowUs) / 1000 <= maxFutureSkewMs) return { occurredAtUs: us, skewed: false, flags: {} };
  return {
    occurredAtUs: nowUs,
    skewed: true,
    flags: { clock_skew_us: us - nowUs, agent_timestamp_us: us },
  };
}

/** The metric label and log name of a rejection code, e.g. "host_mismatch". */
export const rejectReason = (code: RejectCode): string =>
  (RejectCode[code] ?? 'unknown').replace(/^REJECT_CODE_/, '').toLowerCase();
