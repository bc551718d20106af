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
  queryAlerts,
  streamAlerts,
  upsertHost,
  verifyAuditChain,
  withTransaction,
} from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/embedded-postgres.js';
import { converse, modesUnder, startupMessage, typedMessage } from './postgres-wire.js';

// The storage package's own code, through `pg`, against PGlite behind pglite-socket: what
// the single-process stack relies on, with many connections at once.
const dir = mkdtempSync(join(tmpdir(), 'tw-pglite-'));
const password = randomBytes(24).toString('base64url');
const refused: string[] = [];
const start = () =>
  startEmbeddedPostgres({
    dataDir: join(dir, 'pgdata'),
    password,
    onRefused: (reason) => refused.push(reason),
  });
let db: EmbeddedPostgres;
let pool: Pool;

beforeAll(async () => {
  db = await start();
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

  it('searches alerts through the pg_trgm index and streams them from a cursor', async () => {
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'",
    );
    expect(rows[0].n).toBeGreaterThan(0);
    const host = await newHost();
    const alert = (detail: string) => ({
      alertId: randomUUID(),
      hostId: host.hostId,
      occurredAtUs: Date.now() * 1000,
      tripwireType: 'FILE' as const,
      severity: 'WARN' as const,
      ruleName: 'watch',
      eventDetailJson: JSON.stringify({ path: detail }),
    });
    await insertAlerts(pool, [
      alert('/etc/shadow'),
      ...Array.from({ length: 12 }, () => alert('/tmp/x')),
    ]);
    const range = { from: new Date(Date.now() - 3600_000), to: new Date(Date.now() + 3600_000) };
    const found = await queryAlerts(pool, { ...range, hostId: host.hostId, q: 'SHADOW' });
    expect(found.alerts.map((a) => a.eventDetail)).toEqual([{ path: '/etc/shadow' }]);
    // A cursor read in batches. It holds PGlite's one backend until it ends (other connections
    // queue behind it: docs/operations.md), so nothing else is awaited in between.
    let read = 0;
    for await (const batch of streamAlerts(
      pool,
      { ...range, hostId: host.hostId },
      { batchSize: 5, timeoutMs: 0 },
    ))
      read += batch.length;
    expect(read).toBe(13);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
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
    db = await start();
    pool = createPool({ databaseUrl: db.url, max: 10 });
    const { rows } = await pool.query('SELECT v FROM kept');
    expect(rows).toEqual([{ v: 'still here' }]);
  });
});

const port = () => Number(new URL(db.url).port);
const ok = async () => (await pool.query('SELECT 1 AS one')).rows[0];

describe('embedded PostgreSQL is locked down (another local user gets nothing)', () => {
  it('asks for a password first: a client that skips it gets a FATAL, no rows, and is closed', async () => {
    const { replies, closed } = await converse(port(), [
      startupMessage(),
      typedMessage('Q', 'SELECT usename FROM pg_user\0'),
    ]);
    const first = replies[0]!;
    // AuthenticationSASL (R, code 10) offering SCRAM-SHA-256: before, this was AuthenticationOk.
    expect(first.toString('latin1', 0, 1)).toBe('R');
    expect(first.readUInt32BE(5)).toBe(10);
    expect(first.toString('utf8', 9)).toContain('SCRAM-SHA-256');
    // One ErrorResponse and nothing after it: no RowDescription, nothing was run.
    const rest = Buffer.concat(replies.slice(1));
    expect(rest.toString('latin1', 0, 1)).toBe('E');
    expect(rest.length).toBe(1 + rest.readUInt32BE(1));
    expect(rest.toString('utf8')).toContain('FATAL');
    expect(closed).toBe(true);
    expect(await ok()).toEqual({ one: 1 });
  });

  it('refuses a wrong password with 28P01 and takes the right one', async () => {
    const wrong = new URL(db.url);
    wrong.password = 'not-the-password';
    const intruder = createPool({ databaseUrl: wrong.href, max: 1 });
    try {
      await expect(intruder.query('SELECT 1')).rejects.toMatchObject({
        code: '28P01',
        message: expect.stringMatching(/password authentication failed for user "postgres"/),
      });
    } finally {
      await intruder.end();
    }
    expect(refused).toContain('password');
    expect(new URL(db.url).password).toBe(password);
    expect(await ok()).toEqual({ one: 1 });
  });

  it('refuses malformed or oversized startup packets and keeps serving', async () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(1_000_000, 0);
    huge.writeUInt32BE(196_608, 4);
    const oldProtocol = Buffer.alloc(8);
    oldProtocol.writeUInt32BE(8, 0);
    oldProtocol.writeUInt32BE(131_072, 4);
    for (const packet of [huge, oldProtocol]) {
      const { replies, closed } = await converse(port(), [packet]);
      expect(Buffer.concat(replies).toString('utf8')).toMatch(/^E.*FATAL/s);
      expect(closed).toBe(true);
    }
    // A SASL message far over the limit, after a valid startup.
    const big = typedMessage('p', Buffer.alloc(100_000, 0x41));
    const { replies } = await converse(port(), [startupMessage(), big]);
    expect(Buffer.concat(replies.slice(1)).toString('utf8')).toContain('08P01');
    expect(await ok()).toEqual({ one: 1 });
  });

  it('keeps the data folder 0700 and its files 0600, while running and after a stop', async () => {
    await pool.query('CREATE TABLE IF NOT EXISTS modes_probe (v text)');
    await pool.query('INSERT INTO modes_probe SELECT g::text FROM generate_series(1, 5000) g');
    await pool.query('CHECKPOINT');
    const check = () => {
      const entries = modesUnder(join(dir, 'pgdata'));
      expect(entries[0]).toMatchObject({ dir: true, mode: 0o700 });
      expect(entries.length).toBeGreaterThan(100);
      // Nothing inside readable, writable or searchable by the group or others.
      expect(entries.filter((e) => e.mode & 0o077)).toEqual([]);
      expect(entries.filter((e) => !e.dir && e.mode !== 0o600)).toEqual([]);
    };
    check();
    await pool.end();
    await db.stop();
    check();
    db = await start();
    pool = createPool({ databaseUrl: db.url, max: 10 });
    expect(await ok()).toEqual({ one: 1 });
  });
});
