import { type Context, otel, SPAN_STATUS_ERROR, type Span, type SpanOptions } from './otel-api.js';

/** The instrumentation scope every TripWire span is created under. */
export const TRACER_NAME = 'tripwire';

let active = false;

/** Set by startTracing once an SDK is registered (and cleared by its shutdown). */
export function markTracingActive(on: boolean): void {
  active = on;
}

/**
 * Whether startTracing registered an SDK in this process. Everything that creates spans asks
 * this first (the services' hot paths, the agent SDK), so tracing off costs one boolean test
 * and never loads OpenTelemetry at all.
 */
export function tracingActive(): boolean {
  return active;
}

/** A span under `parent` (a remote context from traceparentContext, or a new trace). */
export function startSpan(name: string, options: SpanOptions, parent?: Context): Span {
  const api = otel();
  return api.trace.getTracer(TRACER_NAME).startSpan(name, options, parent ?? api.ROOT_CONTEXT);
}

/** The context holding `span`, to start its children explicitly (no async-context lookup). */
export const contextOf = (span: Span): Context => {
  const api = otel();
  return api.trace.setSpan(api.ROOT_CONTEXT, span);
};

/** Marks a span failed, with a short reason (a code, never alert content). */
export const failSpan = (span: Span, reason: string): void => {
  span.setStatus({ code: SPAN_STATUS_ERROR, message: reason });
};

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
    // The error's name and code, never its message: a driver's message can quote row values.
    const { name, code } = err as { name?: string; code?: unknown };
    failSpan(span, typeof code === 'string' ? `${name ?? 'Error'} ${code}` : (name ?? 'Error'));
    throw err;
  } finally {
    span.end();
  }
}

export { type Context, type Span, SpanKind } from './otel-api.js';
