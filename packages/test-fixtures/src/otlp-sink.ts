// A real OTLP/HTTP endpoint for tests: what an OpenTelemetry collector receives on
// POST /v1/traces, in the OTLP JSON encoding (trace and span ids as hex, as the JSON exporter
// writes them). Any other path or a body that is not OTLP JSON is answered 400 and kept aside.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };

/** One span as received, with the service that sent it. */
export interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
}

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        kind: number;
        attributes?: KeyValue[];
      }>;
    }>;
  }>;
}

const plainValue = (v: AnyValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue);
const attributesOf = (list: KeyValue[] = []) =>
  Object.fromEntries(list.map((kv) => [kv.key, plainValue(kv.value)]));

export class OtlpSink {
  readonly spans: ReceivedSpan[] = [];
  /** Every request body as received (to check what never appears in an export). */
  readonly bodies: string[] = [];
  readonly rejected: string[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpSink> {
    const server = createServer();
    const sink = new OtlpSink(server);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => res.writeHead(sink.receive(req.url ?? '', body) ? 200 : 400).end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  named(name: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private receive(path: string, body: string): boolean {
    let request: ExportRequest;
    try {
      if (path !== '/v1/traces') throw new Error(`unexpected path ${path}`);
      request = JSON.parse(body) as ExportRequest;
    } catch (err) {
      this.rejected.push(`${(err as Error).message}: ${body.slice(0, 200)}`);
      return false;
    }
    this.bodies.push(body);
    for (const rs of request.resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            service,
            name: s.name,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            kind: s.kind,
            attributes: attributesOf(s.attributes),
          });
        }
      }
    }
    return true;
  }
}
