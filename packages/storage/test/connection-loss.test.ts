// A connection that PostgreSQL drops while a caller holds it (a restart, a network cut, an
// operator's pg_terminate_backend) fails that caller's work and nothing else: a checked-out pg
// client emits 'error' even between statements, and with no listener the process would end
// (the chaos run's ingest exits during PostgreSQL cuts).
import { describe, expect, it } from 'vitest';
import { type PoolClient, withTransaction } from '../src/pool.js';
import { useTestDatabase } from './test-database.js';

const t = useTestDatabase();

async function terminate(pid: number) {
  await t.pool.query('SELECT pg_terminate_backend($1)', [pid]);
}

// (A cursor's client is not at risk: the cursor stays its active query between reads, and takes
// the error; it is checked out the same way all the same.)
describe('a connection lost while checked out', () => {
  it('between the statements of a transaction: the transaction fails, the pool goes on', async () => {
    const attempt = withTransaction(t.pool, async (db) => {
      const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // Not events.once: it would listen for 'error' itself.
      const ended = new Promise((r) => (db as PoolClient).once('end', r));
      await terminate(rows[0]!.pid);
      // No statement of this client runs while it learns of the loss.
      await ended;
      await db.query('SELECT 1');
    });
    await expect(attempt).rejects.toThrow(/terminat|not queryable/i);
    const { rows } = await t.pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]!.one).toBe(1);
  });
});
