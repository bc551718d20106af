// The OpenTelemetry API, loaded on first use: only once startTracing has registered an SDK do
// the services create spans, so with tracing off not even the API is loaded.
//
// With require(), not import: the API's package.json offers a "module" condition pointing at an
// ESM build with extensionless imports that only bundlers load, and the repo's vitest configs
// run their workers with that condition; require() from a plain Node process takes the CommonJS
// build. (Tests therefore start traced services as processes of their own.) The API keeps its
// state on globalThis, so every copy of it sees the one registration.
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';

let requireOtel: ReturnType<typeof createRequire> | undefined;

/**
 * require() from this package, made on first use: a bundle without import.meta.url (the agent's
 * single executable, which embeds no OpenTelemetry) must still load, and only fails here.
 */
export function requireFromHere(id: string): unknown {
  if (!import.meta.url) throw new Error('OpenTelemetry is not part of this build');
  requireOtel ??= createRequire(import.meta.url);
  return requireOtel(id);
}

let api: typeof Api | undefined;

/** The OpenTelemetry API module. */
export const otel = (): typeof Api => {
  api ??= requireFromHere('@opentelemetry/api') as typeof Api;
  return api;
};

// The API's enum values (fixed by the specification), usable without loading the API.
export const SpanKind = {
  INTERNAL: 0,
  SERVER: 1,
  CLIENT: 2,
  PRODUCER: 3,
  CONSUMER: 4,
} as const satisfies Record<string, Api.SpanKind>;
export const SPAN_STATUS_ERROR = 2 satisfies Api.SpanStatusCode;
export const TRACE_FLAG_SAMPLED = 1 satisfies Api.TraceFlags;

export type { Context, Span, SpanOptions } from '@opentelemetry/api';
