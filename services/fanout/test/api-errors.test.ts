import { createServer } from 'node:net';
import * as storage from '@tripwire/storage';
import { createPool } from '@tripwire/storage';
import { useTestEnvironment } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import { ApiError, errorAnswer, isDatabaseUnavailable } from '../src/api-errors.js';
import { AuthError } from '../src/operator-auth.js';

const env = useTestEnvironment(storage);

/** What a real query throws. */
async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the query to fail');
}

describe('errorAnswer', () => {
  it('keeps auth and API errors, answers 503 only when PostgreSQL is out of reach', async () => {
    expect(errorAnswer(new AuthError('no', 401, 'missing_token'))).toMatchObject({
      status: 401,
      code: 'missing_token',
    });
    expect(errorAnswer(new ApiError(409, 'conflict', 'x'))).toMatchObject({ status: 409 });

    // A port with nothing listening: what a stopped PostgreSQL looks like.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as { port: number };
    await new Promise((r) => closed.close(r));
    const down = createPool({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/x` });
    const refused = await failure(() => down.query('SELECT 1'));
    await down.end();
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(errorAnswer(refused)).toMatchObject({ status: 503, code: 'unavailable' });

    const client = await env.pool.connect();
    await client.query("SET statement_timeout = '1ms'");
    const timedOut = await failure(() => client.query('SELECT pg_sleep(1)'));
    client.release(true);
    expect(errorAnswer(timedOut)).toMatchObject({
      status: 503,
      code: 'database_timeout',
      body: { error: { code: 'database_timeout', retry_after_s: 5 } },
    });
  });

  it('answers 500 internal_error for a query that is wrong, and for any other bug', async () => {
    const bad = await failure(() => env.pool.query('SELECT 1/0'));
    expect((bad as { code: string }).code).toBe('22012');
    expect(errorAnswer(bad)).toMatchObject({
      status: 500,
      code: 'internal_error',
      unexpected: true,
    });
    expect(
      errorAnswer(new TypeError("Cannot read properties of undefined (reading 'x')")),
    ).toMatchObject({ status: 500, body: { error: { code: 'internal_error' } } });
  });
});
