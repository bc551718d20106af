// What the agent does with an alert the server refused for a property it can fix: the fixed
// alert (same alert_id) is sent again instead of being dropped.
import { RejectCode } from '@tripwire/proto';
import { MIN_DETAIL_MAX_BYTES } from './alert-limits.js';
import { clipDetail, detailAsText } from './detail-clip.js';
import type { OutboxAlert } from './outbox-records.js';
import { storableRuleName } from './rule-name.js';

export interface FixContext {
  /** The detail budget in force. */
  detailMaxBytes: number;
  /** Server clock minus agent clock in µs, from the last Ping; undefined before one arrived. */
  clockOffsetUs: number | undefined;
}

export interface Fix {
  alert: OutboxAlert;
  /** What was done, for the log. */
  fix: 'clipped' | 'clock_corrected' | 'repaired' | 'detail_as_text' | 'rule_name' | 'timestamp';
  /** The server's limit as learned from the refusal: later alerts are clipped to it too. */
  detailMaxBytes?: number;
}

function parseObject(json: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(json || '{}') as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : { value: v };
  } catch {
    return undefined;
  }
}

/** EVENT_DETAIL_TOO_LARGE: clip to the limit the reason states ("… the limit is N"), or half. */
function clipHarder(alert: OutboxAlert, reason: string): Fix | null {
  const bytes = Buffer.byteLength(alert.detailJson);
  const stated = /limit is (\d+)/.exec(reason);
  const budget = Math.min(stated ? Number(stated[1]) : Math.floor(bytes / 2), bytes - 1);
  if (!(budget >= MIN_DETAIL_MAX_BYTES)) return null;
  const detail = parseObject(alert.detailJson);
  const json = detail ? clipDetail(detail, budget).json : detailAsText(alert.detailJson, budget);
  if (Buffer.byteLength(json) >= bytes) return null;
  return { alert: { ...alert, detailJson: json }, fix: 'clipped', detailMaxBytes: budget };
}

/**
 * TIMESTAMP_IN_FUTURE (older servers refuse what newer ones store and flag): the time moves to
 * the server's clock by the offset the last Ping showed, or to 0 ("now" on the server) without
 * one; the agent's own time and its skew stay in the detail.
 */
function correctClock(alert: OutboxAlert, ctx: FixContext): Fix | null {
  if (alert.timestampUs === 0) return null;
  const detail = parseObject(alert.detailJson) ?? {};
  const offset = ctx.clockOffsetUs;
  // No sensor sees the future: an alert time past this host's clock is taken as its clock.
  const seen = Math.min(alert.timestampUs, Date.now() * 1000);
  let corrected = offset === undefined ? 0 : seen + offset;
  // Already corrected once and still refused: let the server use its own time.
  if ('agent_timestamp_us' in detail || corrected < 0) corrected = 0;
  detail.agent_timestamp_us ??= alert.timestampUs;
  detail.clock_skew_us = offset === undefined ? null : -offset;
  const json = clipDetail(detail, ctx.detailMaxBytes).json;
  return { alert: { ...alert, timestampUs: corrected, detailJson: json }, fix: 'clock_corrected' };
}

/**
 * EVENT_DETAIL_TOO_DEEP: no clip makes the nesting shallower, so the detail is kept as text
 * (`detail_head`, marked `truncated.detail`), which any server stores; already text: unfixable.
 */
function keepAsText(alert: OutboxAlert, ctx: FixContext): Fix | null {
  if ('detail_head' in (parseObject(alert.detailJson) ?? {})) return null;
  const text = detailAsText(alert.detailJson, ctx.detailMaxBytes);
  return { alert: { ...alert, detailJson: text }, fix: 'detail_as_text' };
}

/** INVALID_EVENT_DETAIL: repaired strings; failing that, the detail kept as text. */
function repairDetail(alert: OutboxAlert, ctx: FixContext): Fix | null {
  const detail = parseObject(alert.detailJson);
  const repaired = detail ? clipDetail(detail, ctx.detailMaxBytes).json : undefined;
  if (repaired !== undefined && repaired !== alert.detailJson)
    return { alert: { ...alert, detailJson: repaired }, fix: 'repaired' };
  return keepAsText(alert, ctx);
}

/** The fixed alert for a refusal the agent can fix, or null for one it cannot. */
export function fixRejectedAlert(
  alert: OutboxAlert,
  code: RejectCode,
  reason: string,
  ctx: FixContext,
): Fix | null {
  switch (code) {
    case RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_LARGE:
      return clipHarder(alert, reason);
    case RejectCode.REJECT_CODE_TIMESTAMP_IN_FUTURE:
      return correctClock(alert, ctx);
    case RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL:
      return repairDetail(alert, ctx);
    case RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_DEEP:
      return keepAsText(alert, ctx);
    case RejectCode.REJECT_CODE_INVALID_RULE_NAME: {
      const ruleName = storableRuleName(alert.ruleName);
      return ruleName === alert.ruleName
        ? null
        : { alert: { ...alert, ruleName }, fix: 'rule_name' };
    }
    case RejectCode.REJECT_CODE_INVALID_TIMESTAMP:
      return alert.timestampUs === 0
        ? null
        : { alert: { ...alert, timestampUs: 0 }, fix: 'timestamp' };
    default:
      return null;
  }
}
