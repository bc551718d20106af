import { type Context, otel, type Span, TRACE_FLAG_SAMPLED } from './otel-api.js';

/** "00-" + 32 hex trace id + "-" + 16 hex span id + "-" + 2 hex flags. */
export const TRACEPARENT_LENGTH = 55;
// Exactly version 00, lower-case hex, as the W3C spec writes it. Anything else (another
// version's extra fields, upper case, whitespace, a megabyte of junk) is not ours to interpret.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

export interface RemoteParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/**
 * The parent a traceparent names, or undefined for anything else: not a string, the wrong
 * length, malformed, all-zero ids. The value comes from agents and the bus, so it is attacker
 * input: its length is checked before the pattern runs, and a bad value is dropped silently
 * (the span then starts a trace of its own), never an error for the alert it came with.
 */
export function parseTraceparent(value: unknown): RemoteParent | undefined {
  if (typeof value !== 'string' || value.length !== TRACEPARENT_LENGTH) return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  // Only the sampled bit is defined; the other bits are reserved and not passed on.
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & TRACE_FLAG_SAMPLED) !== 0 };
}

/** The context to start a span under for a traceparent: its remote parent, or a new trace. */
export function traceparentContext(value: unknown): Context {
  const api = otel();
  const parent = parseTraceparent(value);
  if (!parent) return api.ROOT_CONTEXT;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.sampled ? TRACE_FLAG_SAMPLED : 0,
    isRemote: true,
  });
}

/**
 * The traceparent of `span` to carry to the next hop, or undefined when it is not recorded
 * and sampled: an unsampled trace is not exported anywhere, so its context is not worth the
 * bytes on every bus message.
 */
export function traceparentOf(span: Span): string | undefined {
  if (!span.isRecording()) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  if ((traceFlags & TRACE_FLAG_SAMPLED) === 0) return undefined;
  return `00-${traceId}-${spanId}-01`;
}
