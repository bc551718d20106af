// PostgreSQL statement and idle-in-transaction timeouts on the service pools (PG_*_TIMEOUT_MS).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, withoutStatementTimeout } from '../src/pool.js';
import { useTestDatabase } from './test-database.js';

const db = useTestDatabase();
let pool: Pool;

beforeAll(() => {
  pool = createPool({
    databaseUrl: db.databaseUrl,
    max: 2,
    statementTimeoutMs: 200,
    idleInTransactionTimeoutMs: 300,
  });
});
afterAll(async () => {
  await pool.end();
});

describe('service pool timeouts', () => {
  it('cancels a statement running past statement_timeout with SQLSTATE 57014', async () => {
    await expect(pool.query('SELECT pg_sleep(30)')).rejects.toMatchObject({ code: '57014' });
    // The pool still serves queries afterwards.
    const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]!.one).toBe(1);
  });

  it('lets maintenance run past the limit under withoutStatementTimeout', async () => {
    const rows = await withoutStatementTimeout(pool, async (q) => {
      const r = await q.query<{ done: number }>('SELECT 1 AS done FROM pg_sleep(0.5)');
      return r.rows;
    });
    expect(rows[0]!.done).toBe(1);
    const { rows: after } = await pool.query<{ t: string }>(
      "SELECT current_setting('statement_timeout') AS t",
    );
    expect(after[0]!.t).toBe('200ms');
  });

  it('ends a session left idle inside a transaction', async () => {
    const client = await pool.connect();
    const ended = new Promise<Error>((resolve) => client.once('error', resolve));
    await client.query('BEGIN');
    const err = await ended;
    expect(err.message).toMatch(/idle-in-transaction|terminat/i);
    client.release(err);
    const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]!.one).toBe(1);
  });
});
