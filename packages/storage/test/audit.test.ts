import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appendAuditEntry, queryAuditEntries, verifyAuditChain } from '../src/audit-log.js';
import { useTestDatabase } from './test-database.js';

const t = useTestDatabase();

// Tampering needs the append-only trigger out of the way, as an attacker with
// table-owner rights could do; the chain must still expose it.
async function tamper(sql: string, params: unknown[]) {
  const client = await t.pool.connect();
  try {
    await client.query('ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only');
    await client.query(sql, params);
  } finally {
    await client.query('ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only');
    client.release();
  }
}

describe('audit log', () => {
  it('chains entries in sequence order and finds them by host and time', async () => {
    const hostId = randomUUID();
    const e1 = await appendAuditEntry(t.pool, {
      actor: 'admin:alice',
      action: 'rule.create',
      target: 'r1',
    });
    const e2 = await appendAuditEntry(t.pool, {
      actor: 'admin:alice',
      action: 'rule.update',
      hostId,
      details: { severity: ['WARN', 'CRITICAL'] },
    });
    expect(e2.seq).toBe(e1.seq + 1);
    expect(e2.prevHash).toBe(e1.hash);
    expect(e1.hash).toMatch(/^[0-9a-f]{64}$/);

    const forHost = await queryAuditEntries(t.pool, {
      from: new Date(Date.now() - 60_000),
      to: new Date(Date.now() + 60_000),
      hostId,
    });
    expect(forHost.map((e) => e.seq)).toEqual([e2.seq]);
    expect(forHost[0]?.details).toEqual({ severity: ['WARN', 'CRITICAL'] });
    expect(await verifyAuditChain(t.pool)).toMatchObject({ ok: true, brokenAt: null });
  });

  it('stays one unbroken chain under concurrent writers', async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        appendAuditEntry(t.pool, {
          actor: `writer-${i % 4}`,
          action: 'host.register',
          target: `${i}`,
        }),
      ),
    );
    const result = await verifyAuditChain(t.pool);
    expect(result.ok).toBe(true);
    expect(result.checked).toBeGreaterThanOrEqual(40);
  });

  it('refuses updates and deletes', async () => {
    await appendAuditEntry(t.pool, { actor: 'x', action: 'y' });
    await expect(t.pool.query("UPDATE audit_entries SET actor = 'mallory'")).rejects.toThrow(
      /append-only/,
    );
    await expect(t.pool.query('DELETE FROM audit_entries')).rejects.toThrow(/append-only/);
  });

  it('detects a modified entry, a deleted entry, and a relinked chain', async () => {
    const entries = [];
    for (let i = 0; i < 4; i++)
      entries.push(await appendAuditEntry(t.pool, { actor: 'bob', action: `a${i}` }));
    const [, second, third] = entries;

    await tamper("UPDATE audit_entries SET actor = 'mallory' WHERE seq = $1", [second!.seq]);
    expect(await verifyAuditChain(t.pool)).toMatchObject({
      ok: false,
      brokenAt: second!.seq,
      reason: expect.stringMatching(/modified/),
    });
    await tamper("UPDATE audit_entries SET actor = 'bob' WHERE seq = $1", [second!.seq]);
    expect((await verifyAuditChain(t.pool)).ok).toBe(true);

    await tamper("UPDATE audit_entries SET prev_hash = repeat('f', 64) WHERE seq = $1", [
      third!.seq,
    ]);
    expect(await verifyAuditChain(t.pool)).toMatchObject({ ok: false, brokenAt: third!.seq });
    await tamper('UPDATE audit_entries SET prev_hash = $2 WHERE seq = $1', [
      third!.seq,
      second!.hash,
    ]);

    await tamper('DELETE FROM audit_entries WHERE seq = $1', [second!.seq]);
    expect(await verifyAuditChain(t.pool)).toMatchObject({
      ok: false,
      brokenAt: third!.seq,
      reason: expect.stringMatching(/missing/),
    });
  });
});
