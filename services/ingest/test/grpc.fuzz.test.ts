// Fuzzing the ingest service as an attacker would: every field of AgentEvent and AgentEventBatch,
// the IncidentService requests, and bytes that are not valid protobuf, against ingest running as
// its own process. Properties: every case is answered within a bound (an ack, a rejection or a
// status), never with a server-fault status for a client's mistake, the process never exits, and
// a valid alert afterwards is acknowledged.
import { randomUUID } from 'node:crypto';
import { Client, credentials, type Metadata, type ServiceError, status } from '@grpc/grpc-js';
import {
  type AgentEvent,
  type AlertServiceClient,
  type IncidentState,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { clipForEcho } from '@tripwire/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestProcess } from '../src/testing/ingest-process.js';
import { incidentCalls, OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import {
  AgentSession,
  bearer,
  connect,
  ENROLLMENT_TOKEN,
  event,
  register,
  submit,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
/** The bound within which every case must be answered. */
const ANSWER_MS = 10_000;
/** Statuses that say "your request was wrong", never "the server failed". */
const CLIENT_FAULTS = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.ABORTED,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
]);

let ingest: IngestProcess;
let client: AlertServiceClient;
let raw: Client;
let admin: ReturnType<typeof incidentCalls>;
let adminToken: string;
let host: { hostId: string; agentToken: string };
let other: { hostId: string };
let incidentId: string;

beforeAll(async () => {
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN, {
    OPERATOR_JWT_SECRET,
    REGISTER_RATE_LIMIT_PER_MINUTE: '100000',
  });
  await ingest.start();
  client = connect(ingest.address);
  raw = new Client(ingest.address, credentials.createInsecure());
  host = await register(client, `fuzz-${randomUUID().slice(0, 8)}`);
  other = await register(client, `fuzz-other-${randomUUID().slice(0, 8)}`);
  adminToken = await operatorAuth.issue('fuzzer', 'admin');
  admin = incidentCalls(ingest.address, adminToken);
  const { incident } = await admin.create({
    hostId: host.hostId,
    tripwireType: TripwireType.FILE,
    severity: Severity.WARN,
  });
  incidentId = incident!.incidentId;
}, 60_000);
afterAll(async () => {
  client?.close();
  raw?.close();
  admin?.close();
  await ingest?.stop();
});

/** The service is alive and serving: the process runs and a valid alert is stored and answered. */
async function stillServes(): Promise<void> {
  expect(ingest.running).toBe(true);
  const ok = event(host.hostId);
  expect(await submit(client, host.agentToken, ok)).toEqual({
    alertId: ok.alertId,
    duplicate: false,
  });
}

const deadline = () => ({ deadline: Date.now() + ANSWER_MS });
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => status.OK,
    (err: ServiceError) => err.code,
  );
const answeredWell = (code: status) => code === status.OK || CLIENT_FAULTS.has(code);

// Text as hostile senders write it: control characters, lone surrogates, NUL, and huge.
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: anyUnit, maxLength: 64 }),
  fc.constantFrom('', '\r\n', '\u0000', '\u001b[2J', '\ud800', 'rule\u0085name', ' '),
  fc.nat({ max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const deepJson = fc
  .tuple(fc.nat({ max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([n, open]) => `${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}`);
const detailJson = fc.oneof(
  fc.json(),
  fc.string(),
  deepJson,
  fc.jsonValue().map((v) => JSON.stringify({ v, pad: 'p'.repeat(70_000) })),
  fc.constantFrom('', '{', 'null', '"\\u0000"', '{"a":"\\ud800"}', '[1,2', '{"__proto__":{"x":1}}'),
);
const enumValue = fc.integer({ min: -3, max: 12 });
const timestampUs = fc.oneof(
  fc.constant(0),
  fc.maxSafeInteger(),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  fc.integer({ min: -3_600_000_000, max: 86_400_000_000 }).map((d) => Date.now() * 1000 + d),
);
const agentEvent: fc.Arbitrary<AgentEvent> = fc.record({
  alertId: fc.oneof(fc.uuid(), text),
  hostId: fc.oneof(fc.constant('own'), fc.constant('other'), fc.constant('OWN'), fc.uuid(), text),
  tripwireType: enumValue as fc.Arbitrary<TripwireType>,
  severity: enumValue as fc.Arbitrary<Severity>,
  timestampUs,
  ruleName: text,
  eventDetailJson: detailJson,
});
const withHost = (e: AgentEvent): AgentEvent => ({
  ...e,
  hostId:
    e.hostId === 'own'
      ? host.hostId
      : e.hostId === 'OWN'
        ? host.hostId.toUpperCase()
        : e.hostId === 'other'
          ? other.hostId
          : e.hostId,
});

describe('AlertService under fuzzing', () => {
  it('answers every AgentEvent on SubmitAlert with OK or a client-fault status', async () => {
    await fuzz(
      'ingest SubmitAlert AgentEvent',
      fc.asyncProperty(agentEvent, async (e) => {
        const code = await codeOf(
          new Promise((resolve, reject) =>
            client.submitAlert(withHost(e), bearer(host.agentToken), deadline(), (err, res) =>
              err ? reject(err) : resolve(res),
            ),
          ),
        );
        expect(answeredWell(code), `status ${status[code]}`).toBe(true);
        await stillServes();
      }),
      40,
    );
  }, 60_000);

  it('answers every event of every AgentEventBatch with an ack or a rejection by id', async () => {
    await fuzz(
      'ingest StreamAlertBatches AgentEventBatch',
      fc.asyncProperty(
        fc.array(agentEvent, { maxLength: 4 }),
        fc.option(fc.maxSafeInteger(), { nil: undefined }),
        async (events, pong) => {
          const batch = events.map(withHost);
          const session = new AgentSession(client, host.agentToken, true);
          (session.call as unknown as { write(m: unknown): boolean }).write({
            events: batch,
            pongServerTimeUs: pong,
          });
          // Protobuf carries UTF-8: a lone surrogate arrives as U+FFFD.
          const sent = (e: AgentEvent) => e.alertId.toWellFormed();
          const answered = (e: AgentEvent) =>
            session.acked.has(sent(e).toLowerCase()) ||
            session.rejections.some((r) => r.alertId === clipForEcho(sent(e)));
          let ended: { code: status } | undefined;
          void session.status.then((s) => {
            ended = s;
          });
          try {
            await until(
              () => ended !== undefined || batch.every(answered),
              ANSWER_MS,
              'every event answered',
            );
          } finally {
            session.end();
          }
          const final = ended ?? (await session.status);
          // OK, or the whole message refused as undecodable (INVALID_ARGUMENT).
          expect([status.OK, status.INVALID_ARGUMENT], `status ${status[final.code]}`).toContain(
            final.code,
          );
          await stillServes();
        },
      ),
      30,
    );
  }, 60_000);

  it('answers bytes that are not valid protobuf, on every method, with a status that is not a server fault', async () => {
    const methods = [
      ['/tripwire.v1.AlertService/SubmitAlert', () => bearer(host.agentToken)],
      ['/tripwire.v1.AlertService/RegisterAgent', () => bearer(ENROLLMENT_TOKEN)],
      ['/tripwire.v1.IncidentService/CreateIncident', () => bearer(adminToken)],
      ['/tripwire.v1.IncidentService/UpdateIncident', () => bearer(adminToken)],
      ['/tripwire.v1.IncidentService/ListIncidents', () => bearer(adminToken)],
    ] as const;
    const identity = (b: Buffer) => b;
    const unaryRaw = (path: string, metadata: Metadata, bytes: Buffer) =>
      codeOf(
        new Promise((resolve, reject) =>
          raw.makeUnaryRequest(path, identity, identity, bytes, metadata, deadline(), (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        ),
      );
    const streamRaw = (bytes: Buffer) =>
      new Promise<status>((resolve) => {
        const call = raw.makeBidiStreamRequest(
          '/tripwire.v1.AlertService/StreamAlertBatches',
          identity,
          identity,
          bearer(host.agentToken),
          deadline(),
        );
        call.on('data', () => {});
        call.on('error', () => {});
        call.on('status', (s) => resolve(s.code));
        call.write(bytes);
        call.end();
      });
    await fuzz(
      'ingest raw bytes',
      fc.asyncProperty(
        fc.nat({ max: methods.length }),
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          fc.constantFrom(
            Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Uint8Array.from([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Uint8Array.from([0x0a, 0x05, 0x12, 0x03, 0x0a, 0x01]),
          ),
        ),
        async (which, bytes) => {
          const buffer = Buffer.from(bytes);
          const method = methods[which];
          const code = method
            ? await unaryRaw(method[0], method[1](), buffer)
            : await streamRaw(buffer);
          expect(answeredWell(code), `status ${status[code]}`).toBe(true);
          await stillServes();
        },
      ),
      40,
    );
  }, 60_000);
});

describe('IncidentService under fuzzing', () => {
  const id = fc.oneof(fc.constant('known'), fc.uuid(), text);
  const realId = (v: string) => (v === 'known' ? incidentId : v);
  const realHost = (v: string) => (v === 'known' ? host.hostId : v);
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  // Each case is [method, request], so a failure prints the request that caused it.
  const request = fc.oneof(
    fc
      .record({
        hostId: id,
        tripwireType: enumValue,
        severity: enumValue,
        ruleName: text,
        assignee: text,
        note: text,
      })
      .map((r) => ['create', { ...r, hostId: realHost(r.hostId) }] as const),
    fc
      .record({
        incidentId: id,
        state: enumValue,
        assignee: fc.option(text, { nil: undefined }),
        note: text,
        expectedVersion: int32,
      })
      .map((r) => ['update', { ...r, incidentId: realId(r.incidentId) }] as const),
    fc
      .record({
        incidentId: id,
        resolutionMethod: enumValue,
        rootCause: text,
        note: text,
        falsePositive: fc.boolean(),
        expectedVersion: int32,
      })
      .map((r) => ['resolve', { ...r, incidentId: realId(r.incidentId) }] as const),
    id.map((v) => ['get', { incidentId: realId(v) }] as const),
    fc
      .record({
        states: fc.array(enumValue, { maxLength: 4 }),
        severities: fc.array(enumValue, { maxLength: 4 }),
        hostId: fc.oneof(fc.constant(''), id),
        pageSize: int32,
        pageToken: text,
      })
      .map((r) => ['list', { ...r, hostId: realHost(r.hostId) }] as const),
    fc
      .record({ incidentId: id, severities: fc.array(enumValue), pageSize: int32, pageToken: text })
      .map((r) => ['listAlerts', { ...r, incidentId: realId(r.incidentId) }] as const),
  );

  it('answers every request with OK or a client-fault status', async () => {
    await fuzz(
      'ingest IncidentService requests',
      fc.asyncProperty(request, async ([method, req]) => {
        const call = admin[method] as (r: unknown) => Promise<unknown>;
        const answer = await call(req).then(
          () => ({ code: status.OK, details: '' }),
          (err: ServiceError) => err,
        );
        expect(answeredWell(answer.code), `${status[answer.code]}: ${answer.details}`).toBe(true);
        await stillServes();
      }),
      40,
    );
  }, 60_000);

  it('answers every StreamIncidents filter by streaming or with INVALID_ARGUMENT', async () => {
    await fuzz(
      'ingest StreamIncidents request',
      fc.asyncProperty(
        fc.record({
          states: fc.array(enumValue, { maxLength: 4 }),
          severities: fc.array(enumValue, { maxLength: 4 }),
          hostIds: fc.array(fc.oneof(fc.uuid(), text), { maxLength: 120 }),
          tripwireTypes: fc.array(enumValue, { maxLength: 4 }),
          includeCurrent: fc.boolean(),
        }),
        async (req) => {
          const call = admin.client.streamIncidents(
            { ...req, states: req.states as IncidentState[] },
            bearer(adminToken),
          );
          call.on('data', () => {});
          call.on('error', () => {});
          const ended = new Promise<status>((resolve) => call.on('status', (s) => resolve(s.code)));
          // A unary call after it on the same connection: by its answer the stream was handled.
          await admin.get({ incidentId });
          call.cancel();
          const code = await ended;
          expect([status.CANCELLED, status.INVALID_ARGUMENT], `status ${status[code]}`).toContain(
            code,
          );
          await stillServes();
        },
      ),
      30,
    );
  }, 60_000);
});
