// Issue 13, IncidentService: the same text limits as REST, and a viewer that stops reading is cut
// off by bytes, not by a count of messages. Each case ends with a valid call served.
import { pbkdf2, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { credentials, status } from '@grpc/grpc-js';
import { IncidentState, ResolutionMethod, Severity, TripwireType } from '@tripwire/proto';
import { MAX_NOTE_LENGTH } from '@tripwire/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  failure,
  IncidentWatcher,
  incidentCalls,
  OPERATOR_JWT_SECRET,
  operatorAuth,
} from './incident-client.js';
import {
  connect,
  errorCode,
  event,
  type RunningIngest,
  register,
  startIngest,
  submit,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let admin: ReturnType<typeof incidentCalls>;
let adminToken: string;

beforeAll(async () => {
  ingest = await startIngest(env, {
    OPERATOR_JWT_SECRET,
    INCIDENT_STREAM_MAX_BUFFERED_BYTES: '65536',
  });
  adminToken = await operatorAuth.issue('alice', 'admin');
  admin = incidentCalls(ingest.address, adminToken);
});
afterAll(async () => {
  admin?.close();
  await ingest?.stop();
});

const metricsText = async () => (await fetch(`${ingest.httpUrl}/metrics`)).text();

async function newIncident() {
  const c = connect(ingest.address);
  const host = await register(c, `ops-${randomUUID().slice(0, 8)}`);
  c.close();
  const { incident } = await admin.create({
    hostId: host.hostId,
    tripwireType: TripwireType.PROCESS,
    severity: Severity.CRITICAL,
    ruleName: 'reverse-shell',
  });
  return incident!;
}

describe('row 10: text fields over gRPC have the limits REST has', () => {
  it('refuses a 1 MB note, a control character and an overlong root cause, naming the field and the limit', async () => {
    const incident = await newIncident();
    const id = incident.incidentId;
    const huge = await failure(admin.update({ incidentId: id, note: 'n'.repeat(1_000_000) }));
    expect(huge).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `note must be at most ${MAX_NOTE_LENGTH} characters (got 1000000)`,
    });
    expect(
      await failure(admin.update({ incidentId: id, note: 'looks fine\u001b[2J\u001b[Hcleared' })),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'note must not contain control characters other than newline and tab',
    });
    expect(
      await failure(
        admin.resolve({
          incidentId: id,
          resolutionMethod: ResolutionMethod.MANUAL,
          rootCause: 'r'.repeat(4001),
        }),
      ),
    ).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^root_cause/),
    });
    expect(
      await failure(
        admin.create({
          hostId: incident.hostId,
          tripwireType: TripwireType.FILE,
          severity: Severity.WARN,
          ruleName: 'a\nb',
        }),
      ),
    ).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^rule_name/),
    });
    expect(await failure(admin.get({ incidentId: 'i'.repeat(100_000) }))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `incident_id must be a UUID (got "${'i'.repeat(64)}…")`,
    });

    // Free text keeps its newlines; the incident is unchanged by the refusals above.
    const { incident: noted } = await admin.update({
      incidentId: id,
      note: 'line one\nline two\tindented',
    });
    expect(noted!.notes.map((n) => n.text)).toEqual(['line one\nline two\tindented']);
    expect(noted!.version).toBe(incident.version + 1);
  });
});

describe('row 8: a StreamIncidents viewer that stops reading', () => {
  it('is cut off RESOURCE_EXHAUSTED past INCIDENT_STREAM_MAX_BUFFERED_BYTES, counted; a new viewer is served', async () => {
    const incident = await newIncident();
    const slow = new IncidentWatcher(admin, adminToken, {});
    // The stream is open once it sees a change.
    await admin.update({ incidentId: incident.incidentId, note: 'open' });
    await slow.waitFor((e) => e.length > 0, 'the first event');
    slow.call.pause();
    const cut = /^tripwire_ingest_limits_hit_total\{limit="incident_stream_budget"\} (\d+)/m;
    // Every revision carries every note so far: the events grow by ~4 KB each.
    for (let i = 0; i < 200 && !cut.test(await metricsText()); i++) {
      await admin.update({ incidentId: incident.incidentId, note: `${i} ${'n'.repeat(3990)}` });
    }
    await until(async () => cut.test(await metricsText()), 10_000, 'the slow viewer cut off');
    slow.call.resume();
    const ended = await slow.status;
    expect(ended.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(ended.details).toMatch(
      /more than 65536 bytes behind \(INCIDENT_STREAM_MAX_BUFFERED_BYTES\): reconnect with include_current/,
    );

    const fresh = new IncidentWatcher(admin, adminToken, {
      includeCurrent: true,
      states: [IncidentState.OPEN],
    });
    await fresh.waitFor(
      (events) => events.some((e) => e.incident?.incidentId === incident.incidentId),
      'the snapshot on a new stream',
    );
    fresh.cancel();
  });
});

describe('row 11: StreamIncidents calls cancelled while their token is being checked', () => {
  it('leave no watch behind (tripwire_ingest_incident_streams comes back); a new viewer is served', async () => {
    const open = /^tripwire_ingest_incident_streams (\d+)/m;
    const openStreams = async () => Number(open.exec(await metricsText())?.[1]);
    const before = await openStreams();
    // A call on the viewers' own channel (closed with `admin`): once it is answered, the server
    // has read everything sent before it.
    const probe = connect(ingest.address, credentials.createInsecure(), {
      channelOverride: admin.client.getChannel(),
    });
    const roundTrip = async () =>
      expect(
        errorCode(await submit(probe, 'not-an-agent-token', event(randomUUID())).catch((e) => e)),
      ).toBe(status.UNAUTHENTICATED);
    // Operator tokens are checked with WebCrypto's HMAC, on libuv's thread pool (this process's
    // too): keeping every thread busy holds the checks, so each cancel lands during one.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const busy = Array.from({ length: threads }, () =>
      promisify(pbkdf2)('x', 'y', 200_000, 64, 'sha512'),
    );
    const viewers = Array.from({ length: 3 }, () => new IncidentWatcher(admin, adminToken, {}));
    await roundTrip();
    for (const v of viewers) v.cancel();
    await roundTrip();
    await Promise.all(busy);
    // Its token check queued behind theirs: once answered, theirs are done.
    await admin.list();
    await until(async () => (await openStreams()) === before, 10_000, 'no watch left behind');
    const incident = await newIncident();
    const fresh = new IncidentWatcher(admin, adminToken, { includeCurrent: true });
    await fresh.waitFor(
      (events) => events.some((e) => e.incident?.incidentId === incident.incidentId),
      'a new viewer served',
    );
    fresh.cancel();
  });
});
