import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendAuditEntry,
  createPool,
  dropAlertPartitionsBefore,
  ensureAlertPartitions,
  insertAlerts,
  listAlertPartitions,
  migrateDatabase,
  type Pool,
  upsertHost,
  verifyAuditChain,
  withTransaction,
} from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/embedded-postgres.js';

// The storage package's own code, through `pg`, against PGlite behind pglite-socket: what
// the single-process stack relies on, with many connections at once.
const dir = mkdtempSync(join(tmpdir(), 'tw-pglite-'));
let db: EmbeddedPostgres;
let pool: Pool;

beforeAll(async () => {
  db = await startEmbeddedPostgres({ dataDir: join(dir, 'pgdata') });
  await migrateDatabase({ databaseUrl: db.url });
  pool = createPool({ databaseUrl: db.url, max: 10 });
});
afterAll(async () => {
  await pool?.end();
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const newHost = () =>
  upsertHost(pool, {
    hostname: `h-${randomUUID()}`,
    platform: 'linux',
    agentVersion: '1',
    agentTokenHash: randomBytes(32),
  });

describe('embedded PostgreSQL (PGlite over the wire protocol)', () => {
  it('migrations are idempotent', async () => {
    const again = await migrateDatabase({ databaseUrl: db.url });
    expect(again.applied).toEqual([]);
  });

  it('serves concurrent parameterized queries, transactions and a named statement on ten connections', async () => {
    const host = await newHost();
    const ids: string[] = [];
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) {
        // alert-store's insert is a named prepared statement, prepared by each connection.
        const alertId = randomUUID();
        ids.push(alertId);
        work.push(
          insertAlerts(pool, [
            {
              alertId,
              hostId: host.hostId,
              occurredAtUs: Date.now() * 1000,
              tripwireType: 'FILE',
              severity: 'WARN',
              ruleName: 'r',
              eventDetailJson: JSON.stringify({ i }),
            },
          ]),
        );
      } else if (i % 3 === 1) {
        // The audit chain: a SQL function taking an advisory transaction lock, inside BEGIN…COMMIT.
        work.push(
          withTransaction(pool, (tx) =>
            appendAuditEntry(tx, { actor: 'test', action: 'concurrent', target: String(i) }),
          ),
        );
      } else {
        work.push(
          pool.query('SELECT $1::int AS n, $2::text AS s', [i, `s${i}`]).then(({ rows }) => {
            expect(rows[0]).toEqual({ n: i, s: `s${i}` });
          }),
        );
      }
    }
    await Promise.all(work);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM alerts WHERE alert_id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows[0]!.n).toBe(ids.length);
    const chain = await verifyAuditChain(pool);
    expect(chain.ok).toBe(true);
    expect(chain.checked).toBeGreaterThanOrEqual(100);
  });

  it('rolls back a failed transaction without disturbing other connections', async () => {
    const table = `t_${randomUUID().replaceAll('-', '')}`;
    await pool.query(`CREATE TABLE ${table} (n int PRIMARY KEY)`);
    const failing = withTransaction(pool, async (tx) => {
      await tx.query(`INSERT INTO ${table} VALUES (1)`);
      await tx.query(`INSERT INTO ${table} VALUES (1)`);
    });
    const others = Promise.all(
      [2, 3, 4].map((n) => pool.query(`INSERT INTO ${table} VALUES ($1)`, [n])),
    );
    await expect(failing).rejects.toThrow(/duplicate key/);
    await others;
    const { rows } = await pool.query(`SELECT n FROM ${table} ORDER BY n`);
    expect(rows.map((r) => r.n)).toEqual([2, 3, 4]);
  });

  it('a connection dropped inside a transaction is rolled back and frees the others', async () => {
    const table = `t_${randomUUID().replaceAll('-', '')}`;
    await pool.query(`CREATE TABLE ${table} (n int)`);
    const client = await pool.connect();
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${table} VALUES (1)`);
    client.release(new Error('drop this connection'));
    await pool.query(`INSERT INTO ${table} VALUES (2)`);
    const { rows } = await pool.query(`SELECT n FROM ${table}`);
    expect(rows.map((r) => r.n)).toEqual([2]);
  });

  it('creates and drops monthly alert partitions', async () => {
    await ensureAlertPartitions(pool, 4);
    const partitions = await listAlertPartitions(pool);
    expect(partitions.length).toBeGreaterThanOrEqual(5);
    const dropped = await dropAlertPartitionsBefore(pool, new Date(Date.UTC(2000, 0, 1)));
    expect(dropped).toEqual([]);
  });

  it('keeps the data after a restart on the same folder', async () => {
    await pool.query('CREATE TABLE kept (v text)');
    await pool.query("INSERT INTO kept VALUES ('still here')");
    await pool.end();
    await db.stop();
    db = await startEmbeddedPostgres({ dataDir: join(dir, 'pgdata') });
    pool = createPool({ databaseUrl: db.url, max: 10 });
    const { rows } = await pool.query('SELECT v FROM kept');
    expect(rows).toEqual([{ v: 'still here' }]);
  });
});
