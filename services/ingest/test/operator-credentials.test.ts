// IncidentService takes the fan-out's operator credentials: an operator JWT (which must carry
// exp, and which an admin's revoke-all ends) or an API token (twk_…), revocable one by one.
// Revocations are rows in PostgreSQL, so this instance honours one made anywhere else.
import { createHmac } from 'node:crypto';
import { type ServiceError, status } from '@grpc/grpc-js';
import { createApiToken, revokeApiToken, revokeOperatorAccess } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incidentCalls, OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import { type RunningIngest, startIngest, until, useEnvironment } from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;

beforeAll(async () => {
  ingest = await startIngest(env, { OPERATOR_JWT_SECRET });
});
afterAll(() => ingest?.stop());

/** An HS256 JWT with exactly these claims, signed with the right secret. */
function jwtWith(claims: Record<string, unknown>) {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256' })}.${part(claims)}`;
  const signature = createHmac('sha256', OPERATOR_JWT_SECRET).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

/** How ListIncidents ends with `token`: OK, or the status name and message. */
async function listWith(token: string) {
  const calls = incidentCalls(ingest.address, token);
  try {
    await calls.list({ pageSize: 1 });
    return { code: 'OK', details: '' };
  } catch (err) {
    const { code, details } = err as ServiceError;
    return { code: status[code], details };
  } finally {
    calls.close();
  }
}

/** A valid call still succeeds: the refused one did not take the instance down. */
async function stillServing() {
  expect((await listWith(await operatorAuth.issue('alice', 'admin'))).code).toBe('OK');
}

describe('IncidentService credentials', () => {
  it('refuses a validly signed admin JWT without exp: UNAUTHENTICATED', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forever = jwtWith({ role: 'admin', sub: 'eve', iss: 'tripwire', iat: now });
    expect(await listWith(forever)).toEqual({
      code: 'UNAUTHENTICATED',
      details: expect.stringMatching(/no valid exp/),
    });
    await stillServing();
  });

  it('takes an API token until it is revoked, then answers UNAUTHENTICATED', async () => {
    const { token, secret } = await createApiToken(env.pool, {
      name: 'soar',
      role: 'viewer',
      createdBy: 'operator:root',
      expiresInS: 3600,
    });
    expect((await listWith(secret)).code).toBe('OK');
    await revokeApiToken(env.pool, token.tokenId);
    expect(await listWith(secret)).toEqual({
      code: 'UNAUTHENTICATED',
      details: 'the API token is unknown, revoked or expired',
    });
    await stillServing();
  });

  it("refuses an operator's earlier JWTs once an admin revoked all of that operator's access", async () => {
    const before = await operatorAuth.issue('mallory', 'admin');
    expect((await listWith(before)).code).toBe('OK');
    await revokeOperatorAccess(env.pool, 'mallory');
    expect(await listWith(before)).toEqual({
      code: 'UNAUTHENTICATED',
      details: expect.stringMatching(/revoked mallory's credentials/),
    });
    // A token issued after the revocation (the next whole second) is taken.
    await until(
      async () => (await listWith(await operatorAuth.issue('mallory', 'admin'))).code === 'OK',
      5_000,
      'a token issued after the revocation',
    );
  });
});
