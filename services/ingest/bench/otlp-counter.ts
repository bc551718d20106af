// A stand-in OpenTelemetry collector for the benchmark: accepts OTLP/HTTP JSON exports on
// POST /v1/traces and counts them, without parsing (the bench shares 2 cores with the service).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpCounter {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  stats(): { requests: number; spans: number; bytes: number };
  close(): Promise<void>;
}

export async function startOtlpCounter(): Promise<OtlpCounter> {
  let requests = 0;
  let spans = 0;
  let bytes = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      requests++;
      bytes += Buffer.byteLength(body);
      // Every span of the OTLP JSON encoding has one "spanId" member (parents are "parentSpanId").
      spans += body.split('"spanId"').length - 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ requests, spans, bytes }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The cost of one span in this process, as the services create them: started under a remote
 * parent, a few attributes, ended into the batch span processor (the export itself happens off
 * this path, timed out of the measure by flushing between rounds). Microseconds per span.
 */
export async function measureSpanCost(endpoint: string): Promise<number> {
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  const { startTracing, startSpan, traceparentContext, SpanKind } = await import(
    '@tripwire/tracing'
  );
  const tracing = await startTracing('bench-span-cost');
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const ROUND = 2_000; // within the batch processor's default queue (2,048): none dropped
  let spent = 0;
  for (let round = 0; round < 10; round++) {
    const started = performance.now();
    for (let i = 0; i < ROUND; i++) {
      const span = startSpan(
        'fanout.deliver',
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'redis' } },
        traceparentContext(parent),
      );
      span.setAttributes({ 'messaging.batch.message_count': 100, 'tripwire.frames.sent': 1_000 });
      span.end();
    }
    spent += performance.now() - started;
    await tracing.flush();
  }
  await tracing.shutdown();
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return (spent * 1000) / (ROUND * 10);
}
