// One trace across three processes and a real OTLP/HTTP endpoint: tripwire-agent (the agent
// SDK, its own process) sends a batch, the ingest service (its own process) validates, commits
// and publishes it, the fan-out (its own process) reads it from Redis and delivers it to a real
// WebSocket client. The trace context crosses gRPC inside the batch and Redis inside the bus
// message. (Traced code runs in processes of its own: see packages/tracing/src/otel-api.ts.)
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { IngestProcess } from '@tripwire/ingest/testing';
import {
  AlertServiceClient,
  type RegisterAgentResponse,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { OtlpSink, type ReceivedSpan, ServiceProcess } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FanoutProcess } from '../src/testing/fanout-process.js';
import {
  auth,
  Browser,
  ENROLLMENT_TOKEN,
  JWT_SECRET,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { RawAgent } from './raw-agent.js';

const env = useEnvironment();
let sink: OtlpSink;
let ingest: IngestProcess;
let fanout: FanoutProcess;
let browser: Browser;
let stateDir: string;
const AGENT_DIR = dirname(createRequire(import.meta.url).resolve('@tripwire/agent/package.json'));

beforeAll(async () => {
  sink = await OtlpSink.start();
  // Exported within 100 ms instead of the default 5 s, so the test waits less.
  const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN, traced);
  fanout = await FanoutProcess.create(env, JWT_SECRET, traced);
  await Promise.all([ingest.start(), fanout.start()]);
  browser = new Browser(fanout.wsUrl, { token: await auth.issue('tracer', 'viewer') });
  await until(() => browser.ofType('welcome').length === 1, 10_000, 'the welcome frame');
  stateDir = await mkdtemp(join(tmpdir(), 'tripwire-traced-agent-'));
}, 90_000);

afterAll(async () => {
  browser?.close();
  await Promise.all([fanout?.stop(), ingest?.stop()]);
  await sink?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** The spans of one trace, by name (each name once). */
function traceOf(traceId: string): Map<string, ReceivedSpan> {
  const spans = sink.spans.filter((s) => s.traceId === traceId);
  expect(new Set(spans.map((s) => s.name)).size).toBe(spans.length);
  return new Map(spans.map((s) => [s.name, s]));
}

const PIPELINE = [
  'agent.batch.send',
  'ingest.batch',
  'ingest.validate',
  'ingest.commit',
  'ingest.publish',
  'fanout.deliver',
];

describe('traces', () => {
  it('follow one agent batch through ingest and the fan-out as one trace', async () => {
    // One demo alert; the agent flushes it, exports its spans (shutdown) and exits 0.
    const agent = new ServiceProcess(AGENT_DIR, ['src/cli.ts'], {
      TRIPWIRE_ENROLL_TOKEN: ENROLLMENT_TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
      OTEL_SERVICE_NAME: 'test-agent',
    });
    agent.spawn([
      'demo',
      '--server',
      ingest.address,
      '--insecure',
      '--state-dir',
      stateDir,
      '--hostname',
      'traced-01',
      '--rate',
      '1',
      '--duration',
      '1',
    ]);
    expect(await agent.exited).toBe(0);
    await until(() => browser.alerts().length > 0, 15_000, 'the alert on the WebSocket');
    // The frame a browser receives does not carry the bus message's trace context.
    const frame = browser.alerts()[0]!;
    expect(JSON.stringify(frame)).not.toContain('traceparent');

    const sent = () => sink.named('agent.batch.send')[0];
    await until(
      () => sent() !== undefined && traceOf(sent()!.traceId).size === PIPELINE.length,
      15_000,
      'every span of the batch at the OTLP endpoint',
    );
    const spans = traceOf(sent()!.traceId);
    expect([...spans.keys()].sort()).toEqual([...PIPELINE].sort());
    const span = (name: string) => spans.get(name)!;
    const parentOf = (name: string) =>
      sink.spans.find((s) => s.spanId === span(name).parentSpanId)?.name;
    expect(span('agent.batch.send').parentSpanId).toBe('');
    expect(parentOf('ingest.batch')).toBe('agent.batch.send');
    expect(parentOf('ingest.validate')).toBe('ingest.batch');
    expect(parentOf('ingest.commit')).toBe('ingest.batch');
    expect(parentOf('ingest.publish')).toBe('ingest.batch');
    expect(parentOf('fanout.deliver')).toBe('ingest.publish');
    expect(span('agent.batch.send').service).toBe('test-agent');
    expect(span('ingest.commit').service).toBe('tripwire-ingest');
    expect(span('fanout.deliver').service).toBe('tripwire-fanout');
    const alerts = span('agent.batch.send').attributes['tripwire.batch.alerts'];
    expect(alerts).toBeGreaterThan(0);
    expect(span('ingest.batch').attributes).toMatchObject({
      'rpc.method': 'StreamAlertBatches',
      'tripwire.batch.alerts': alerts,
      'tripwire.alerts.accepted': alerts,
    });
    expect(span('ingest.commit').attributes['tripwire.alerts.stored']).toBe(alerts);
    // The one WebSocket client got each alert of the batch once.
    expect(span('fanout.deliver').attributes).toMatchObject({
      'messaging.batch.message_count': alerts,
      'tripwire.frames.sent': alerts,
    });
    // Counts and names only: no alert content, host name or credential is ever exported.
    const exported = sink.bodies.join('\n');
    const { alert_id, rule_name, event_detail } = frame.data;
    const detailValues = Object.values(event_detail as Record<string, unknown>)
      .map(String)
      .filter((v) => v.length >= 6);
    for (const secret of [alert_id, rule_name, 'traced-01', ENROLLMENT_TOKEN, ...detailValues]) {
      expect(exported).not.toContain(secret);
    }
    expect(sink.rejected).toEqual([]);
  });

  it('ignores a malformed or huge traceparent from an agent: the alert is stored and delivered, its trace starts at ingest', async () => {
    const client = new AlertServiceClient(ingest.address, credentials.createInsecure());
    const raw = await RawAgent.register(client);
    const hostile = [`00-${'f'.repeat(32)}-${'e'.repeat(16)}-01${'x'.repeat(1024 * 1024)}`, '{}'];
    const events = hostile.map(() => raw.event());
    const call = raw.stream(client, []);
    for (const [i, traceparent] of hostile.entries()) {
      call.write({ events: [events[i]!], traceparent });
    }
    const ids = events.map((e) => e.alertId);
    await until(() => ids.every((id) => raw.acked.has(id)), 15_000, 'the acknowledgements');
    await until(() => ids.every((id) => browser.alertIds().includes(id)), 15_000, 'the alerts');
    const roots = () =>
      sink
        .named('ingest.batch')
        .filter((s) => s.parentSpanId === '' && s.traceId !== 'f'.repeat(32));
    await until(
      () => roots().filter((r) => traceOf(r.traceId).has('fanout.deliver')).length === 2,
      15_000,
      'two traces started at ingest, delivered by the fan-out',
    );
    expect(sink.spans.some((s) => s.traceId === 'f'.repeat(32))).toBe(false);
    expect(sink.bodies.join('\n')).not.toContain('xxxx');
    call.end();
    client.close();
  });

  it('takes the trace context of a SubmitAlert call from its traceparent metadata', async () => {
    const client = new AlertServiceClient(ingest.address, credentials.createInsecure());
    const enrollment = new Metadata();
    enrollment.set('authorization', `Bearer ${ENROLLMENT_TOKEN}`);
    const { hostId, agentToken } = await new Promise<RegisterAgentResponse>((resolve, reject) =>
      client.registerAgent(
        { hostname: 'traced-unary', platform: 'linux', agentVersion: '1.0' },
        enrollment,
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${agentToken}`);
    metadata.set('traceparent', `00-${traceId}-${parentId}-01`);
    const event = {
      alertId: randomUUID(),
      hostId,
      tripwireType: TripwireType.FILE,
      severity: Severity.WARN,
      timestampUs: Date.now() * 1000,
      ruleName: 'unary',
      eventDetailJson: '{}',
    };
    await new Promise((resolve, reject) =>
      client.submitAlert(event, metadata, (err, res) => (err ? reject(err) : resolve(res))),
    );
    await until(() => traceOf(traceId).has('fanout.deliver'), 15_000, 'the delivery span');
    const spans = traceOf(traceId);
    expect(spans.get('ingest.batch')).toMatchObject({
      parentSpanId: parentId,
      attributes: { 'rpc.method': 'SubmitAlert', 'tripwire.alerts.accepted': 1 },
    });
    expect(spans.get('fanout.deliver')?.parentSpanId).toBe(spans.get('ingest.publish')?.spanId);
    client.close();
  });
});
