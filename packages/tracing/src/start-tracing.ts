import { otel, requireFromHere } from './otel-api.js';
import { markTracingActive } from './tracer.js';

export interface Tracing {
  /** Whether spans are recorded and exported (OTEL_EXPORTER_OTLP_ENDPOINT was set). */
  readonly enabled: boolean;
  /** Exports the spans buffered so far (bounded by the exporter's timeout). */
  flush(): Promise<void>;
  /** Exports the spans still buffered and stops (bounded by the exporter's timeout); idempotent. */
  shutdown(): Promise<void>;
}

/** Where the SDK's own complaints go (an unreachable collector, a bad sampler value). */
export interface TracingLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

type Env = Record<string, string | undefined>;

/** The standard variables TripWire's services document (docs/operations.md#tracing). */
export type TracingEnv = Partial<
  Record<
    | 'OTEL_EXPORTER_OTLP_ENDPOINT'
    | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
    | 'OTEL_EXPORTER_OTLP_HEADERS'
    | 'OTEL_SERVICE_NAME'
    | 'OTEL_RESOURCE_ATTRIBUTES'
    | 'OTEL_TRACES_SAMPLER'
    | 'OTEL_TRACES_SAMPLER_ARG'
    | 'OTEL_BSP_SCHEDULE_DELAY'
    | 'OTEL_SDK_DISABLED',
    string
  >
>;

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

/** Whether the standard variables ask for traces: an OTLP endpoint, and the SDK not disabled. */
export function tracingRequested(env: Env = process.env): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Boolean(endpoint) && env.OTEL_SDK_DISABLED?.toLowerCase() !== 'true';
}

/**
 * Starts OpenTelemetry tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: a NodeTracerProvider exporting over OTLP/HTTP
 * (JSON) through a batch span processor, registered as the API's global provider. Otherwise
 * nothing is loaded: the SDK modules (and the API, otel-api.ts) are required on demand, so a
 * process without the variable never even reads them, and nothing creates spans
 * (tracingActive() stays false).
 *
 * The exporter, the batch processor and the sampler read their own standard variables
 * (OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG);
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override `serviceName` and add attributes.
 */
export async function startTracing(serviceName: string, log?: TracingLog): Promise<Tracing> {
  // process.env, not a config object: the exporter, processor and sampler read it themselves.
  if (!tracingRequested(process.env)) return OFF;
  try {
    return registerProvider(serviceName, log);
  } catch (err) {
    // A build without the SDK (the agent's single executable): traces are not worth a crash.
    log?.warn(
      { err: (err as Error).message },
      'tracing requested, but it cannot start: running without it',
    );
    return OFF;
  }
}

function registerProvider(serviceName: string, log?: TracingLog): Tracing {
  // Loaded here, only now; with require() for the reason otel-api.ts gives.
  const { NodeTracerProvider } = requireFromHere(
    '@opentelemetry/sdk-trace-node',
  ) as typeof import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = requireFromHere(
    '@opentelemetry/sdk-trace-base',
  ) as typeof import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = requireFromHere(
    '@opentelemetry/exporter-trace-otlp-http',
  ) as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const resources = requireFromHere(
    '@opentelemetry/resources',
  ) as typeof import('@opentelemetry/resources');
  const { diag, DiagLogLevel } = otel();
  if (log) {
    const warn = (message: string) => log.warn({ component: 'opentelemetry' }, message);
    diag.setLogger(
      { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
      {
        logLevel: DiagLogLevel.WARN,
        suppressOverrideMessage: true,
      },
    );
  }
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': serviceName }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  markTracingActive(true);
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    shutdown: () => {
      stopping ??= provider.shutdown().then(
        () => markTracingActive(false),
        (err: Error) => log?.warn({ err: err.message }, 'exporting the last spans failed'),
      );
      return stopping;
    },
  };
}
