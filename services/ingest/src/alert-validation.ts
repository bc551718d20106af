import { type AgentEvent, RejectCode, Severity, TripwireType } from '@tripwire/proto';
import type {
  Host,
  NewAlert,
  Severity as SeverityName,
  TripwireType as TypeName,
} from '@tripwire/storage';

export interface ValidationLimits {
  maxEventDetailBytes: number;
  maxFutureSkewMs: number;
}

export type Validation =
  | { ok: true; alert: NewAlert }
  | { ok: false; alertId: string; code: RejectCode; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_RULE_NAME = 256;

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

/** Quote a caller's value in an error without echoing something huge. */
const show = (v: string) => JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);

/** PostgreSQL text and jsonb cannot hold NUL or unpaired surrogates; find one before it fails a whole batch. */
function unstorableString(value: unknown): string | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'contains \\u0000, which PostgreSQL cannot store';
    if (!value.isWellFormed()) return 'contains an unpaired UTF-16 surrogate escape';
    return null;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = unstorableString(item);
      if (problem) return problem;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const problem = unstorableString(key) ?? unstorableString(item);
      if (problem) return problem;
    }
  }
  return null;
}

/**
 * Checks one alert from the host that owns the calling token: alert_id is a UUID; host_id is
 * that host's; tripwire_type and severity are set to a known value; rule_name is short
 * printable text; timestamp_us is Unix microseconds (0 = now) not too far ahead of the server
 * clock; event_detail_json is empty or JSON within the size limit that PostgreSQL can store.
 */
export function validateAgentEvent(
  event: AgentEvent,
  host: Host,
  limits: ValidationLimits,
  nowUs = Date.now() * 1000,
): Validation {
  const reject = (code: RejectCode, reason: string): Validation => ({
    ok: false,
    alertId: event.alertId,
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
  if (event.ruleName.length > MAX_RULE_NAME || unstorableString(event.ruleName)) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_RULE_NAME,
      `rule_name must be at most ${MAX_RULE_NAME} characters of printable text`,
    );
  }
  let occurredAtUs = event.timestampUs;
  if (occurredAtUs === 0) occurredAtUs = nowUs;
  if (!Number.isSafeInteger(occurredAtUs) || occurredAtUs < 0) {
    return reject(
      RejectCode.REJECT_CODE_INVALID_TIMESTAMP,
      'timestamp_us must be Unix microseconds (or 0 for now)',
    );
  }
  const aheadMs = (occurredAtUs - nowUs) / 1000;
  if (aheadMs > limits.maxFutureSkewMs) {
    return reject(
      RejectCode.REJECT_CODE_TIMESTAMP_IN_FUTURE,
      `timestamp_us is ${Math.round(aheadMs / 1000)} s ahead of the server clock ` +
        `(limit ${limits.maxFutureSkewMs / 1000} s): check the agent's clock`,
    );
  }
  let eventDetailJson: string | null = null;
  if (event.eventDetailJson !== '') {
    const bytes = Buffer.byteLength(event.eventDetailJson);
    if (bytes > limits.maxEventDetailBytes) {
      return reject(
        RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_LARGE,
        `event_detail_json is ${bytes} bytes; the limit is ${limits.maxEventDetailBytes}`,
      );
    }
    let eventDetail: unknown;
    try {
      eventDetail = JSON.parse(event.eventDetailJson);
    } catch (err) {
      return reject(
        RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL,
        `event_detail_json is not valid JSON: ${(err as Error).message}`,
      );
    }
    const problem = unstorableString(eventDetail);
    if (problem)
      return reject(RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL, `event_detail_json ${problem}`);
    eventDetailJson = event.eventDetailJson;
  }
  return {
    ok: true,
    alert: {
      alertId: event.alertId.toLowerCase(),
      hostId: host.hostId,
      occurredAtUs,
      tripwireType,
      severity,
      ruleName: event.ruleName,
      eventDetailJson,
    },
  };
}

/** The metric label and log name of a rejection code, e.g. "host_mismatch". */
export const rejectReason = (code: RejectCode): string =>
  (RejectCode[code] ?? 'unknown').replace(/^REJECT_CODE_/, '').toLowerCase();
