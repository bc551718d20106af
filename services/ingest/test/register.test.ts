import { createHash } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import type { AlertServiceClient } from '@tripwire/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentSession,
  connect,
  ENROLLMENT_TOKEN,
  errorCode,
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
  ingest = await startIngest(env);
  client = connect(ingest.address);
});
afterAll(async () => {
  client?.close();
  await ingest?.stop();
});

describe('RegisterAgent', () => {
  it('returns a host_id and an agent token, and stores only the token hash', async () => {
    const before = Date.now() * 1000;
    const res = await register(client, 'web-01');
    expect(res.hostId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.agentToken).toMatch(/^twa_[A-Za-z0-9_-]{43}$/);
    expect(res.serverTimeUs).toBeGreaterThanOrEqual(before);
    const { rows } = await env.pool.query('SELECT * FROM hosts WHERE host_id = $1', [res.hostId]);
    expect(rows[0]).toMatchObject({
      hostname: 'web-01',
      platform: 'linux',
      agent_version: '1.2.3',
      status: 'offline',
    });
    expect(rows[0].agent_token_hash).toEqual(createHash('sha256').update(res.agentToken).digest());
    expect(JSON.stringify(rows[0])).not.toContain(res.agentToken);
  });

  it('gives a host re-registering with its current token its host_id and revokes the old token', async () => {
    const first = await register(client, 'db-01');
    // Rotation: the current agent token as the bearer (enrollment.test.ts covers the other proofs).
    const second = await register(client, 'db-01', first.agentToken);
    expect(second.hostId).toBe(first.hostId);
    expect(second.agentToken).not.toBe(first.agentToken);

    const stale = new AgentSession(client, first.agentToken);
    expect(await stale.status).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(/register again/),
    });
    const fresh = new AgentSession(client, second.agentToken);
    const e = event(second.hostId);
    fresh.send([e]);
    await fresh.waitForAcks([e.alertId]);
    fresh.end();
    expect((await fresh.status).code).toBe(status.OK);
  });

  it('refuses an empty hostname with INVALID_ARGUMENT', async () => {
    await expect(register(client, '')).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'hostname is required',
    });
    await expect(register(client, 'two words')).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });

  it('refuses a missing, malformed or wrong enrollment token with UNAUTHENTICATED', async () => {
    await expect(register(client, 'x', 'not-the-token-at-all')).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'enrollment token is not valid',
    });
    const noAuth = await new Promise((resolve) =>
      client.registerAgent(
        { hostname: 'x', platform: '', agentVersion: '' },
        new Metadata(),
        resolve,
      ),
    );
    expect(errorCode(noAuth)).toBe(status.UNAUTHENTICATED);
    const basic = new Metadata();
    basic.set('authorization', `Basic ${ENROLLMENT_TOKEN}`);
    const wrongScheme = await new Promise((resolve) =>
      client.registerAgent({ hostname: 'x', platform: '', agentVersion: '' }, basic, resolve),
    );
    expect(errorCode(wrongScheme)).toBe(status.UNAUTHENTICATED);
  });

  it('records each registration in the audit chain', async () => {
    const res = await register(client, 'audited-01');
    const { rows } = await env.pool.query(
      "SELECT * FROM audit_entries WHERE action = 'host.register' AND host_id = $1",
      [res.hostId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: 'agent:audited-01', target: 'audited-01' });
  });

  it('never writes a token to the log', async () => {
    const res = await register(client, 'logged-01');
    await expect(
      register(client, 'logged-02', 'wrong-token-but-secret-looking'),
    ).rejects.toBeTruthy();
    const session = new AgentSession(client, res.agentToken);
    const e = event(res.hostId);
    session.send([e]);
    await session.waitForAcks([e.alertId]);
    session.end();
    await session.status;
    const log = ingest.logs.join('');
    expect(log).toContain('agent registered');
    expect(log).not.toContain(res.agentToken);
    expect(log).not.toContain(ENROLLMENT_TOKEN);
    expect(log).not.toContain('wrong-token-but-secret-looking');
  });
});
