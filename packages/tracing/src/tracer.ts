import { type Context, ROOT_CONTEXT, type Span, type SpanOptions, trace } from '@opentelemetry/api';

/** The instrumentation scope every TripWire span is created under. */
export const TRACER_NAME = 'tripwire';

let active = false;

/** Set by startTracing once an SDK is registered; false means the API's no-op tracer is in place. */
export function markTracingActive(on: boolean): void {
  active = on;
}

/**
 * Whether an SDK was registered in this process (by startTracing, or by the embedding program
 * for the agent SDK: any tracer provider other than the API's no-op one). Hot paths ask this
 * before building span names and attributes, so tracing off costs one boolean test.
 */
export function tracingActive(): boolean {
  return active;
}

/** A span under `parent` (a remote context from traceparentContext, or the root). */
export function startSpan(name: string, options: SpanOptions, parent: Context = ROOT_CONTEXT): Span {
  return trace.getTracer(TRACER_NAME).startSpan(name, options, parent);
}

/** The context holding `span`, to start its children explicitly (no async-context lookup). */
export const contextOf = (span: Span): Context => trace.setSpan(ROOT_CONTEXT, span);

export { type Context, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
