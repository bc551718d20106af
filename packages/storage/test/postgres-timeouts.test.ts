// Which failures are PostgreSQL not answering in time, and the lock probes the services use to
// tell a hung PostgreSQL from one slow statement (docs/operations.md, "After a timeout").
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pingDatabase } from '../src/pool.js';
import { alertReadsAnswer, alertWritesAnswer, postgresTimeout } from '../src/postgres-timeouts.js';
import { useTestDatabase } from './test-database.js';

const db = useTestDatabase();

const failure = (run: () => Promise<unknown>) =>
  run().then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );

describe('postgresTimeout', () => {
  it('names a statement timeout and a pool checkout timeout, and nothing else', async () => {
    const client = await db.pool.connect();
    await client.query("SET statement_timeout = '20ms'");
    const cancelled = await failure(() => client.query('SELECT pg_sleep(5)'));
    client.release(true);
    expect(postgresTimeout(cancelled)).toBe('statement timeout (57014)');

    const tiny = new pg.Pool({
      connectionString: db.databaseUrl,
      max: 1,
      connectionTimeoutMillis: 50,
    });
    const held = await tiny.connect();
    const checkout = await failure(() => tiny.connect());
    held.release();
    await tiny.end();
    expect(postgresTimeout(checkout)).toMatch(/^pool checkout timeout/);

    expect(postgresTimeout(await failure(() => db.pool.query('SELECT 1/0')))).toBeUndefined();
    expect(postgresTimeout(new Error('connect ECONNREFUSED'))).toBeUndefined();
  });
});

describe('the lock probes', () => {
  it('see a table locked against writes where SELECT 1 sees nothing, and answer again once it is released', async () => {
    expect(await alertWritesAnswer(db.pool, 1_000)).toBe(true);
    const locker = await db.pool.connect();
    await locker.query('BEGIN');
    // SHARE: reads go on, every INSERT waits.
    await locker.query('LOCK TABLE alerts IN SHARE MODE');
    try {
      expect(await pingDatabase(db.pool)).toBe(true);
      expect(await alertReadsAnswer(db.pool, 200)).toBe(true);
      expect(await alertWritesAnswer(db.pool, 200)).toBe(false);
      await locker.query('LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE');
      expect(await alertReadsAnswer(db.pool, 200)).toBe(false);
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }
    expect(await alertWritesAnswer(db.pool, 1_000)).toBe(true);
    expect(await alertReadsAnswer(db.pool, 1_000)).toBe(true);
  });
});
