import { createHash, randomBytes } from 'node:crypto';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { AlertServiceClient, RegisterAgentResponse } from '@tripwire/proto';
import { createEnrollmentToken, revokeEnrollmentToken } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  connect,
  ENROLLMENT_TOKEN,
  event,
  type RunningIngest,
  register,
  startIngest,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let client: AlertServiceClient;

beforeAll(async () => {
  ingest = await startIngest(env, { ENROLLMENT_MAX_PENDING_PER_HOST: '2' });
  client = connect(ingest.address);
});
afterAll(async () => {
  client?.close();
  await ingest?.stop();
});

/** RegisterAgent with any metadata: the bearer, and optionally the agent token and enrollment key. */
function registerWith(
  hostname: string,
  bearerToken: string,
  extra: { agentToken?: string; key?: string } = {},
): Promise<RegisterAgentResponse> {
  const m = new Metadata();
  m.set('authorization', `Bearer ${bearerToken}`);
  if (extra.agentToken) m.set('x-tripwire-agent-token', extra.agentToken);
  if (extra.key) m.set('x-tripwire-enrollment-key', extra.key);
  return new Promise((resolve, reject) =>
    client.registerAgent({ hostname, platform: 'linux', agentVersion: '2.0.0' }, m, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the registration to be refused');
    },
    (err: ServiceError) => ({ code: err.code, details: err.details }),
  );

/** A managed enrollment token stored the way the fan-out's REST API stores it. */
async function managedToken(
  over: { maxUses?: number; expiresInS?: number; pattern?: string | null } = {},
) {
  const token = `twe_${randomBytes(32).toString('base64url')}`;
  const row = await createEnrollmentToken(env.pool, {
    name: `test-${randomBytes(3).toString('hex')}`,
    tokenHash: createHash('sha256').update(token).digest(),
    hostnamePattern: over.pattern ?? null,
    maxUses: over.maxUses ?? 10,
    expiresAt: new Date(Date.now() + (over.expiresInS ?? 3600) * 1000),
    createdBy: 'test',
  });
  return { token, id: row.tokenId };
}

/** An agent that registered and streams, acknowledging what it sends. */
async function streamingAgent(hostname: string) {
  const reg = await register(client, hostname);
  const session = new AgentSession(client, reg.agentToken);
  const first = event(reg.hostId);
  session.send([first]);
  await session.waitForAcks([first.alertId]);
  return { reg, session };
}

describe('re-registering an existing hostname', () => {
  it('refuses a takeover with only the enrollment token; the real agent keeps streaming', async () => {
    const victim = await streamingAgent('victim-01');
    const attempt = await refusal(register(client, 'victim-01'));
    expect(attempt.code).toBe(status.ALREADY_EXISTS);
    expect(attempt.details).toMatch(/already enrolled.*current agent token.*client certificate/);

    // The open stream goes on, and the victim's token still opens new streams.
    const later = event(victim.reg.hostId);
    victim.session.send([later]);
    await victim.session.waitForAcks([later.alertId]);
    const again = new AgentSession(client, victim.reg.agentToken);
    const third = event(victim.reg.hostId);
    again.send([third]);
    await again.waitForAcks([third.alertId]);
    again.end();
    victim.session.end();
    expect((await again.status).code).toBe(status.OK);

    const { rows } = await env.pool.query(
      "SELECT details FROM audit_entries WHERE action = 'host.register_refused' AND target = 'victim-01'",
    );
    expect(rows[0].details).toMatchObject({ credential: 'bootstrap', peer: expect.any(String) });
  });

  it('rotates the token with the current agent token: beside the enrollment token, or alone', async () => {
    const first = await register(client, 'rotate-01');
    const second = await registerWith('rotate-01', ENROLLMENT_TOKEN, {
      agentToken: first.agentToken,
    });
    expect(second.hostId).toBe(first.hostId);
    const stale = new AgentSession(client, first.agentToken);
    expect((await stale.status).code).toBe(status.UNAUTHENTICATED);

    // The agent token alone (no enrollment token on the host any more).
    const third = await registerWith('rotate-01', second.agentToken);
    expect(third.hostId).toBe(first.hostId);
    const fresh = new AgentSession(client, third.agentToken);
    const e = event(third.hostId);
    fresh.send([e]);
    await fresh.waitForAcks([e.alertId]);
    fresh.end();

    // A stale token proves nothing; an agent token is only good for its own hostname.
    expect((await refusal(registerWith('rotate-01', first.agentToken))).code).toBe(
      status.UNAUTHENTICATED,
    );
    await register(client, 'rotate-02');
    expect((await refusal(registerWith('rotate-02', third.agentToken))).code).toBe(
      status.UNAUTHENTICATED,
    );
    const { rows } = await env.pool.query(
      "SELECT count(*)::int AS n FROM audit_entries WHERE action = 'host.rotate_token' AND host_id = $1",
      [first.hostId],
    );
    expect(rows[0].n).toBe(2);
  });

  it('records a pending enrollment per requester key, refuses a bad key, and caps them per host', async () => {
    await register(client, 'pending-01');
    const key = (n: number) => `requester-key-${n}-0123456789abcdef`;
    const a = await refusal(registerWith('pending-01', ENROLLMENT_TOKEN, { key: key(1) }));
    expect(a.code).toBe(status.ALREADY_EXISTS);
    const id = /pending enrollment ([0-9a-f-]{36})/.exec(a.details)?.[1];
    expect(id).toBeDefined();
    // The same requester again: the same request, one more attempt.
    const again = await refusal(registerWith('pending-01', ENROLLMENT_TOKEN, { key: key(1) }));
    expect(again.details).toContain(id);
    await refusal(registerWith('pending-01', ENROLLMENT_TOKEN, { key: key(2) }));
    const third = await refusal(registerWith('pending-01', ENROLLMENT_TOKEN, { key: key(3) }));
    expect(third).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: expect.stringContaining('ENROLLMENT_MAX_PENDING_PER_HOST=2'),
    });
    const { rows } = await env.pool.query(
      "SELECT request_id, attempts, state FROM enrollment_requests WHERE hostname = 'pending-01' ORDER BY requested_at",
    );
    expect(rows).toEqual([
      { request_id: id, attempts: 2, state: 'pending' },
      expect.objectContaining({ attempts: 1, state: 'pending' }),
    ]);
    expect(
      (await refusal(registerWith('pending-01', ENROLLMENT_TOKEN, { key: 'short' }))).code,
    ).toBe(status.INVALID_ARGUMENT);
    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/tripwire_ingest_limits_hit_total\{limit="pending_enrollments"\} 1/);
    expect(metrics).toMatch(/tripwire_ingest_enrollments_total\{outcome="pending"\} \d+/);
  });
});

describe('managed enrollment tokens', () => {
  it('enrolls with a managed token, counts the use and audits it with the peer address', async () => {
    const { token, id } = await managedToken();
    const reg = await registerWith('managed-01', token);
    const { rows } = await env.pool.query(
      "SELECT details FROM audit_entries WHERE action = 'host.register' AND host_id = $1",
      [reg.hostId],
    );
    expect(rows[0].details).toMatchObject({
      credential: 'managed',
      enrollment_token_id: id,
      peer: expect.stringContaining('127.0.0.1'),
    });
    const used = await env.pool.query(
      'SELECT uses, last_used_at FROM enrollment_tokens WHERE token_id = $1',
      [id],
    );
    expect(used.rows[0]).toMatchObject({ uses: 1, last_used_at: expect.any(Date) });
  });

  it('lets exactly one of many concurrent registrations use a one-use token', async () => {
    const { token, id } = await managedToken({ maxUses: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => registerWith(`race-${i}`, token)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r.reason as ServiceError).code).toBe(status.UNAUTHENTICATED);
    const { rows } = await env.pool.query(
      "SELECT (SELECT uses FROM enrollment_tokens WHERE token_id = $1) AS uses, count(*)::int AS hosts FROM hosts WHERE hostname LIKE 'race-%'",
      [id],
    );
    expect(rows[0]).toEqual({ uses: 1, hosts: 1 });
  });

  it('refuses an expired, used-up, revoked or wrong-hostname token with UNAUTHENTICATED, audited', async () => {
    const expired = await managedToken({ expiresInS: -60 });
    expect(await refusal(registerWith('expired-01', expired.token))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringContaining('expired'),
    });
    const once = await managedToken({ maxUses: 1 });
    await registerWith('once-01', once.token);
    expect(await refusal(registerWith('once-02', once.token))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringContaining('no uses left'),
    });
    const revoked = await managedToken();
    await revokeEnrollmentToken(env.pool, revoked.id, 'test');
    expect(await refusal(registerWith('revoked-01', revoked.token))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringContaining('revoked'),
    });
    const web = await managedToken({ pattern: 'web-*' });
    expect(await refusal(registerWith('db-07', web.token))).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringContaining('hostname pattern'),
    });
    // `_` and `%` are literal in a glob; matching ignores case.
    const literal = await managedToken({ pattern: 'app_?' });
    expect((await refusal(registerWith('appX1', literal.token))).code).toBe(status.UNAUTHENTICATED);
    expect((await registerWith('APP_1', literal.token)).hostId).toBeTruthy();
    expect((await registerWith('web-07', web.token)).hostId).toBeTruthy();
    const { rows } = await env.pool.query(
      "SELECT details->>'reason' AS reason FROM audit_entries WHERE action = 'enrollment_token.refused' ORDER BY seq",
    );
    expect(rows.map((r) => r.reason)).toEqual(
      expect.arrayContaining(['expired', 'used_up', 'revoked', 'hostname']),
    );
    // Still serving.
    expect((await register(client, 'after-refusals')).hostId).toBeTruthy();
  });
});
