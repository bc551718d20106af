import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { type AlertServiceClient, RejectCode, Severity, TripwireType } from '@tripwire/proto';
import { insertAlerts } from '@tripwire/storage';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  bearer,
  busReader,
  connect,
  event,
  type RunningIngest,
  register,
  rowsFor,
  startIngest,
  submit,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let client: AlertServiceClient;
let bus: ReturnType<typeof busReader>;

beforeAll(async () => {
  ingest = await startIngest(env, { MAX_EVENTS_PER_BATCH: '300' });
  client = connect(ingest.address);
  bus = busReader(env);
});
afterAll(async () => {
  await bus?.stop();
  client?.close();
  await ingest?.stop();
});

const agent = async (hostname = `host-${randomUUID().slice(0, 8)}`) => ({
  hostname,
  ...(await register(client, hostname)),
});
const metricsText = async () => (await fetch(`${ingest.httpUrl}/metrics`)).text();
const published = async (alertId: string) =>
  (await env.pool.query('SELECT published FROM alert_ids WHERE alert_id = $1', [alertId])).rows[0]
    ?.published as boolean | undefined;

describe('StreamAlerts', () => {
  it('stores, acknowledges and publishes an alert in the seed frame shape', async () => {
    const a = await agent('web-07');
    const session = new AgentSession(client, a.agentToken);
    const e = event(a.hostId, { timestampUs: 1_767_225_600_000_000, ruleName: 'etc-passwd-watch' });
    session.send([e]);
    await session.waitForAcks([e.alertId]);

    const [row] = await rowsFor(env, [e.alertId]);
    expect(row).toMatchObject({
      host_id: a.hostId,
      tripwire_type: 'FILE',
      severity: 'CRITICAL',
      rule_name: 'etc-passwd-watch',
      event_detail: { path: '/etc/passwd', pid: 1234 },
    });
    expect(row.occurred_at.toISOString()).toBe('2026-01-01T00:00:00.000Z');

    await until(() => bus.alertIds().includes(e.alertId));
    const published = bus.entries.find(
      (x) => x.message.type === 'alert' && x.message.data.alert_id === e.alertId,
    )!;
    expect(published.position).toMatch(/^[0-9a-z]{1,16}:\d+-\d+$/);
    expect(published.message).toEqual({
      type: 'alert',
      data: {
        alert_id: e.alertId,
        host_id: a.hostId,
        hostname: 'web-07',
        timestamp: '2026-01-01T00:00:00.000Z',
        timestamp_us: 1_767_225_600_000_000,
        received_at: row.received_at.toISOString(),
        tripwire_type: 'FILE',
        rule_name: 'etc-passwd-watch',
        severity: 'CRITICAL',
        event_detail: { path: '/etc/passwd', pid: 1234 },
      },
    });
    session.end();
    expect((await session.status).code).toBe(status.OK);
  });

  it('sends the host its rules (its own and the global ones) when the stream opens', async () => {
    const a = await agent();
    await env.pool.query(
      `INSERT INTO tripwire_rules (host_id, name, tripwire_type, severity, target)
       VALUES ($1, 'ssh-config', 'FILE', 'CRITICAL', '/etc/ssh'), (NULL, $2, 'NETWORK', 'WARN', '4444')`,
      [a.hostId, `global-${randomUUID()}`],
    );
    const session = new AgentSession(client, a.agentToken);
    await until(() => session.commands.some((c) => c.command?.$case === 'rules'));
    const rules = session.commands.find((c) => c.command?.$case === 'rules')!;
    const names =
      rules.command?.$case === 'rules' ? rules.command.rules.rules.map((r) => r.name) : [];
    expect(names).toContain('ssh-config');
    expect(names.some((n) => n.startsWith('global-'))).toBe(true);
    session.end();
    await session.status;
  });

  it('rejects each invalid alert by id with a specific code and keeps the stream open for valid ones', async () => {
    const a = await agent();
    const other = await agent();
    const session = new AgentSession(client, a.agentToken);
    const bad = {
      type: event(a.hostId, { tripwireType: TripwireType.TRIPWIRE_TYPE_UNSPECIFIED }),
      unknownType: event(a.hostId, { tripwireType: 9 as TripwireType }),
      severity: event(a.hostId, { severity: Severity.SEVERITY_UNSPECIFIED }),
      noAlertId: event(a.hostId, { alertId: '' }),
      notUuid: event(a.hostId, { alertId: 'alert-42' }),
      noHostId: event('', {}),
      forged: event(other.hostId),
      json: event(a.hostId, { eventDetailJson: '{"path": ' }),
      nul: event(a.hostId, { eventDetailJson: '{"path":"a\\u0000b"}' }),
      deep: event(a.hostId, { eventDetailJson: `${'['.repeat(65)}${']'.repeat(65)}` }),
      ruleName: event(a.hostId, { ruleName: 'r'.repeat(300) }),
      ruleNameCrLf: event(a.hostId, { ruleName: 'forged\r\n\u001b[2Kline' }),
    };
    const good = [event(a.hostId), event(a.hostId)];
    session.send([good[0]!, ...Object.values(bad), good[1]!]);
    await session.waitForAcks(good.map((g) => g.alertId));
    await until(() => session.rejections.length === Object.keys(bad).length);

    const codeOf = (e: { alertId: string }) =>
      session.rejections.find((r) => r.alertId === e.alertId)?.code;
    expect(codeOf(bad.type)).toBe(RejectCode.REJECT_CODE_INVALID_TRIPWIRE_TYPE);
    expect(codeOf(bad.unknownType)).toBe(RejectCode.REJECT_CODE_INVALID_TRIPWIRE_TYPE);
    expect(codeOf(bad.severity)).toBe(RejectCode.REJECT_CODE_INVALID_SEVERITY);
    expect(codeOf(bad.notUuid)).toBe(RejectCode.REJECT_CODE_INVALID_ALERT_ID);
    expect(codeOf(bad.noHostId)).toBe(RejectCode.REJECT_CODE_INVALID_HOST_ID);
    expect(codeOf(bad.forged)).toBe(RejectCode.REJECT_CODE_HOST_MISMATCH);
    expect(codeOf(bad.json)).toBe(RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL);
    expect(codeOf(bad.nul)).toBe(RejectCode.REJECT_CODE_INVALID_EVENT_DETAIL);
    expect(codeOf(bad.deep)).toBe(RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_DEEP);
    expect(codeOf(bad.ruleName)).toBe(RejectCode.REJECT_CODE_INVALID_RULE_NAME);
    expect(codeOf(bad.ruleNameCrLf)).toBe(RejectCode.REJECT_CODE_INVALID_RULE_NAME);
    const missingId = session.rejections.find((r) => r.alertId === '');
    expect(missingId).toMatchObject({
      code: RejectCode.REJECT_CODE_INVALID_ALERT_ID,
      reason: 'alert_id is required',
    });
    expect(session.rejections.find((r) => r.alertId === bad.forged.alertId)?.reason).toMatch(
      /not the host this agent token was issued to/,
    );
    expect(session.rejections.find((r) => r.alertId === bad.ruleNameCrLf.alertId)?.reason).toMatch(
      /control characters.*"forged\\r\\n\\u001b\[2Kline"/,
    );

    const stored = await rowsFor(
      env,
      [...Object.values(bad), ...good].map((e) => e.alertId).filter((id) => id.length === 36),
    );
    expect(stored.map((r) => r.alert_id).sort()).toEqual(good.map((g) => g.alertId).sort());

    // Still open: another valid alert goes through.
    const later = event(a.hostId);
    session.send([later]);
    await session.waitForAcks([later.alertId]);
    session.end();
    expect((await session.status).code).toBe(status.OK);

    const metrics = await metricsText();
    expect(metrics).toMatch(
      /tripwire_ingest_alerts_rejected_total\{reason="host_mismatch"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /tripwire_ingest_alerts_rejected_total\{reason="invalid_tripwire_type"\} [2-9]/,
    );
  });

  it('uses the server clock for a zero timestamp and stores an empty detail as NULL', async () => {
    const a = await agent();
    const session = new AgentSession(client, a.agentToken);
    const e = event(a.hostId, { timestampUs: 0, eventDetailJson: '' });
    const before = Date.now();
    session.send([e]);
    await session.waitForAcks([e.alertId]);
    const [row] = await rowsFor(env, [e.alertId]);
    expect(row.event_detail).toBeNull();
    expect(row.occurred_at.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(row.occurred_at.getTime()).toBeLessThanOrEqual(Date.now() + 1);
    session.end();
    await session.status;
  });

  it('acknowledges a resend without storing it again, even across months; publishes it again only if the ledger does not mark it published', async () => {
    const a = await agent();
    // Stored three months ago by an instance that died before publishing it: never marked.
    const old = event(a.hostId);
    await insertAlerts(
      env.pool,
      [
        {
          alertId: old.alertId,
          hostId: a.hostId,
          occurredAtUs: old.timestampUs,
          tripwireType: 'FILE',
          severity: 'CRITICAL',
          ruleName: old.ruleName,
          eventDetailJson: old.eventDetailJson,
        },
      ],
      new Date(Date.now() - 95 * 24 * 3600 * 1000),
    );
    const fresh = event(a.hostId);
    const session = new AgentSession(client, a.agentToken);
    session.send([fresh, fresh]);
    await session.waitForAcks([fresh.alertId]);
    // Marked once Redis confirmed the append (off the acknowledgement path).
    await until(async () => (await published(fresh.alertId)) === true, 10_000, 'marked');

    const next = event(a.hostId);
    session.send([old, fresh, next]);
    await session.waitForAcks([old.alertId, next.alertId]);
    // Publishes keep submission order: once `next` is on the bus, so is whatever came before it.
    await until(() => bus.alertIds().includes(next.alertId));
    const ours = [old.alertId, fresh.alertId, next.alertId];
    expect(bus.alertIds().filter((id) => ours.includes(id))).toEqual([
      fresh.alertId,
      old.alertId,
      next.alertId,
    ]);
    expect(await rowsFor(env, [old.alertId])).toHaveLength(1);
    expect(await rowsFor(env, [fresh.alertId])).toHaveLength(1);
    expect(await metricsText()).toMatch(/^tripwire_ingest_resends_republished_total [1-9]/m);
    session.end();
    await session.status;
  });

  it('publishes a resend of an alert stored but never marked published (its instance died before publishing it), in order, with the original received_at', async () => {
    const a = await agent();
    // Stored by an instance that was killed between its COMMIT and its publish: never on the bus.
    const lost = event(a.hostId);
    const storedAt = new Date(Date.now() - 60_000);
    await insertAlerts(
      env.pool,
      [
        {
          alertId: lost.alertId,
          hostId: a.hostId,
          occurredAtUs: lost.timestampUs,
          tripwireType: 'FILE',
          severity: 'CRITICAL',
          ruleName: lost.ruleName,
          eventDetailJson: lost.eventDetailJson,
        },
      ],
      storedAt,
    );
    const next = event(a.hostId);
    const session = new AgentSession(client, a.agentToken, true);
    session.send([lost, next]);
    await session.waitForAcks([lost.alertId, next.alertId]);
    await until(() => bus.alertIds().includes(next.alertId));
    const ids = bus.alertIds().filter((id) => id === lost.alertId || id === next.alertId);
    expect(ids).toEqual([lost.alertId, next.alertId]);
    const republished = bus.entries.find(
      (x) => x.message.type === 'alert' && x.message.data.alert_id === lost.alertId,
    )!;
    expect(republished.message.type === 'alert' && republished.message.data.received_at).toBe(
      storedAt.toISOString(),
    );
    expect(await rowsFor(env, [lost.alertId])).toHaveLength(1);
    session.end();
    await session.status;
  });

  it('marks the host online while a stream is open and offline with last_seen after, and publishes both', async () => {
    const a = await agent();
    const hostRow = async () =>
      (await env.pool.query('SELECT * FROM hosts WHERE host_id = $1', [a.hostId])).rows[0];
    const session = new AgentSession(client, a.agentToken);
    await until(async () => (await hostRow()).status === 'online');
    const second = new AgentSession(client, a.agentToken);
    await until(() => second.commands.length > 0);
    const streams = async () =>
      Number(/^tripwire_ingest_connected_agents (\d+)/m.exec(await metricsText())?.[1]);
    const open = await streams();
    session.end();
    await session.status;
    // The server has closed its side (and decided whether to release the host): a release would
    // be written at once, so a short quiet period bounds the claim "stays online".
    await until(async () => (await streams()) === open - 1, 10_000, 'the stream closed');
    await new Promise((r) => setTimeout(r, 200));
    expect((await hostRow()).status).toBe('online');
    second.end();
    await second.status;
    await until(async () => (await hostRow()).status === 'offline');
    expect((await hostRow()).last_seen).toBeInstanceOf(Date);
    await until(() =>
      bus.entries.some(
        (x) =>
          x.message.type === 'host' &&
          x.message.data.host_id === a.hostId &&
          x.message.data.status === 'offline',
      ),
    );
    const hostEvents = bus.entries.flatMap((x) =>
      x.message.type === 'host' && x.message.data.host_id === a.hostId
        ? [x.message.data.status]
        : [],
    );
    expect(hostEvents).toEqual(['online', 'offline']);
  });

  it('ends the stream with UNAUTHENTICATED for a missing or unknown token', async () => {
    const none = new AgentSession(client, '');
    expect((await none.status).code).toBe(status.UNAUTHENTICATED);
    const unknown = new AgentSession(client, 'twa_thisIsNotARealTokenButLooksLikeOne0000000000');
    expect(await unknown.status).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('ends a stream that sends bytes that are not an AgentEvent with INVALID_ARGUMENT', async () => {
    const a = await agent();
    const Raw = makeGenericClientConstructor(
      {
        streamAlerts: {
          path: '/tripwire.v1.AlertService/StreamAlerts',
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'tripwire.v1.AlertService',
    );
    const raw = new Raw(ingest.address, credentials.createInsecure()) as unknown as {
      streamAlerts: (m: unknown) => NodeJS.ReadWriteStream;
      close(): void;
    };
    const call = raw.streamAlerts(bearer(a.agentToken));
    const result = new Promise<{ code: number; details: string }>((resolve) => {
      call.on('status', resolve);
      call.on('error', () => {});
      call.on('data', () => {});
    });
    call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(await result).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/could not be decoded/),
    });
    raw.close();
    expect(await metricsText()).toMatch(
      /tripwire_ingest_calls_refused_total\{method="StreamAlerts",reason="malformed_message"\} 1/,
    );
  });
});

describe('StreamAlertBatches', () => {
  it('acknowledges every alert sent in batches, in one stream', async () => {
    const a = await agent();
    const session = new AgentSession(client, a.agentToken, true);
    const events = Array.from({ length: 1000 }, () => event(a.hostId));
    for (let i = 0; i < events.length; i += 250) session.send(events.slice(i, i + 250));
    await session.waitForAcks(events.map((e) => e.alertId));
    expect(
      await rowsFor(
        env,
        events.map((e) => e.alertId),
      ),
    ).toHaveLength(1000);
    session.end();
    expect((await session.status).code).toBe(status.OK);
  });

  it('ends with RESOURCE_EXHAUSTED when one batch carries more than the limit', async () => {
    const a = await agent();
    const session = new AgentSession(client, a.agentToken, true);
    session.send(Array.from({ length: 301 }, () => event(a.hostId)));
    expect(await session.status).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: 'a batch may carry at most 300 events; this one had 301',
    });
  });
});

describe('many agents at once', () => {
  it('holds a stream for each of 30 agents without a listener-leak warning', async () => {
    // An ingest of its own: Node warns once per emitter, so a fresh one shows whether it would.
    const own = await startIngest(env);
    const ownClient = connect(own.address);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const agents = await Promise.all(
        Array.from({ length: 30 }, () => register(ownClient, `many-${randomUUID().slice(0, 8)}`)),
      );
      const sessions = agents.map((a) => new AgentSession(ownClient, a.agentToken, true));
      const events = agents.map((a) => event(a.hostId));
      for (const [i, session] of sessions.entries()) session.send([events[i]!]);
      await Promise.all(sessions.map((session, i) => session.waitForAcks([events[i]!.alertId])));
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on a later tick
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
      for (const session of sessions) session.end();
      await Promise.all(sessions.map((session) => session.status));
    } finally {
      process.off('warning', onWarning);
      ownClient.close();
      await own.stop();
    }
  });
});

describe('SubmitAlert', () => {
  it('answers once the alert is durable, and flags a resend as a duplicate', async () => {
    const a = await agent();
    const e = event(a.hostId);
    expect(await submit(client, a.agentToken, e)).toEqual({ alertId: e.alertId, duplicate: false });
    expect(await rowsFor(env, [e.alertId])).toHaveLength(1);
    expect(await submit(client, a.agentToken, e)).toEqual({ alertId: e.alertId, duplicate: true });
    expect(await rowsFor(env, [e.alertId])).toHaveLength(1);
  });

  it('maps bad input to INVALID_ARGUMENT, another host to PERMISSION_DENIED, a bad token to UNAUTHENTICATED', async () => {
    const a = await agent();
    const b = await agent();
    await expect(
      submit(client, a.agentToken, event(a.hostId, { severity: 7 as Severity })),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(
        /severity must be INFO, WARN or CRITICAL.*REJECT_CODE_INVALID_SEVERITY/,
      ),
    });
    await expect(submit(client, a.agentToken, event(b.hostId))).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    await expect(submit(client, 'twa_nope', event(a.hostId))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });
});

describe('standard services', () => {
  it('serves grpc.health.v1 and server reflection', async () => {
    const health = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as never as {
      grpc: {
        health: {
          v1: {
            Health: new (
              a: string,
              c: ReturnType<typeof credentials.createInsecure>,
            ) => {
              check(
                req: { service: string },
                cb: (err: Error | null, res: { status: string }) => void,
              ): void;
              close(): void;
            };
          };
        };
      };
    };
    const hc = new health.grpc.health.v1.Health(ingest.address, credentials.createInsecure());
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      hc.check({ service: 'tripwire.v1.AlertService' }, (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
    expect(res.status).toBe('SERVING');
    hc.close();

    const reflectionProto = join(
      dirname(createRequire(import.meta.url).resolve('@grpc/reflection')),
      '../proto/grpc/reflection/v1/reflection.proto',
    );
    const refl = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true })) as never as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              a: string,
              c: unknown,
            ) => {
              serverReflectionInfo(): NodeJS.ReadWriteStream;
              close(): void;
            };
          };
        };
      };
    };
    const rc = new refl.grpc.reflection.v1.ServerReflection(
      ingest.address,
      credentials.createInsecure(),
    );
    const call = rc.serverReflectionInfo();
    const reply = new Promise<{ list_services_response: { service: Array<{ name: string }> } }>(
      (resolve) => call.once('data', resolve),
    );
    call.write({ list_services: '' } as never);
    const names = (await reply).list_services_response.service.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['tripwire.v1.AlertService', 'grpc.health.v1.Health']),
    );
    call.end();
    rc.close();
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${ingest.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${ingest.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: true } });
    const metrics = await metricsText();
    for (const name of [
      'tripwire_ingest_alerts_received_total',
      'tripwire_ingest_alerts_stored_total',
      'tripwire_ingest_alerts_duplicate_total',
      'tripwire_ingest_batch_size_bucket',
      'tripwire_ingest_flush_duration_seconds_bucket',
      'tripwire_ingest_connected_agents',
      'tripwire_ingest_bus_publish_failures_total',
    ]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(/tripwire_ingest_alerts_duplicate_total [1-9]/);
  });
});
