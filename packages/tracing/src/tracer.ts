import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/** The instrumentation scope every TripWire span is created under. */
export const TRACER_NAME = 'tripwire';

let active = false;

/** Set by startTracing once an SDK is registered; false means the API's no-op tracer is in place. */
export function markTracingActive(on: boolean): void {
  active = on;
}

/**
 * Whether startTracing registered an SDK in this process. The services' hot paths ask this
 * before building spans, attributes or contexts, so tracing off costs one boolean test.
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

/**
 * Runs `fn` inside a span named `name` under `parent`, ending it when `fn` settles (an error
 * status if it threw). Without a parent (the submission is not traced) `fn` gets no span and
 * nothing else happens.
 */
export async function withSpan<T>(
  name: string,
  options: SpanOptions,
  parent: Context | undefined,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (parent === undefined) return fn(undefined);
  const span = startSpan(name, options, parent);
  try {
    return await fn(span);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
