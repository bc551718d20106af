import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentRule } from '@tripwire/agent-sdk';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { createRule } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  captureLog,
  draft,
  ENROLLMENT_TOKEN,
  metricValue,
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

beforeAll(async () => {
  ingest = await startIngest(env, { PING_INTERVAL_MS: '100' });
});
afterAll(() => ingest?.stop());

const registrations = async (hostname: string) =>
  Number(
    (
      await env.pool.query(
        "SELECT count(*) FROM audit_entries WHERE action = 'host.register' AND target = $1",
        [hostname],
      )
    ).rows[0].count,
  );

describe('registration', () => {
  it('registers once, keeps the credentials 0600 in a 0700 folder, and reuses them without the enrollment token', async () => {
    const stateDir = await agents.stateDir();
    const logs = captureLog('agent');
    const first = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-reg-01',
      log: logs.log,
    });
    await first.start();
    expect(first.hostId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    const credentialsFile = join(stateDir, 'credentials.json');
    expect((await stat(credentialsFile)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(credentialsFile, 'utf8'));
    expect(stored).toMatchObject({
      hostId: first.hostId,
      agentToken: expect.stringMatching(/^twa_/),
    });
    const a = await first.enqueue(draft(1));
    expect(await first.flush(10_000)).toBe(true);
    await first.stop();

    const second = agents.create({
      server: ingest.address,
      stateDir,
      hostname: 'sdk-reg-01',
      log: logs.log,
    });
    await second.start();
    expect(second.hostId).toBe(first.hostId);
    const b = await second.enqueue(draft(2));
    expect(await second.flush(10_000)).toBe(true);
    await second.stop();

    expect(await storedAlertIds(env, [a, b])).toHaveLength(2);
    expect(await registrations('sdk-reg-01')).toBe(1);
    // Neither token ever reaches a log line.
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain(stored.agentToken);
    expect(logs.text()).not.toContain(ENROLLMENT_TOKEN);
  });

  it('says clearly why it cannot register', async () => {
    const noToken = agents.create({ server: ingest.address, stateDir: await agents.stateDir() });
    await expect(noToken.start()).rejects.toThrow(
      /no stored credentials in .* and no enrollment token/,
    );
    const wrongToken = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: 'not-the-enrollment-token-at-all',
    });
    await expect(wrongToken.start()).rejects.toThrow(/refused the enrollment token/);
    const noServer = agents.create({
      server: '127.0.0.1:1',
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
    });
    await expect(noServer.start()).rejects.toThrow(
      /cannot register with 127\.0\.0\.1:1: UNAVAILABLE/,
    );
  });
});

describe('streaming', () => {
  it('batches alerts over the stream; each arrives in PostgreSQL exactly once and leaves the outbox', async () => {
    const client = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-stream-01',
      batchMaxEvents: 200,
    });
    await client.start();
    const ids = await Promise.all(Array.from({ length: 1500 }, (_, n) => client.enqueue(draft(n))));
    expect(new Set(ids).size).toBe(1500);
    expect(await client.flush(20_000)).toBe(true);
    const stored = await storedAlertIds(env, ids);
    expect(stored).toHaveLength(1500);
    expect(new Set(stored).size).toBe(1500);
    expect(client.stats()).toMatchObject({ queued: 0, acked: 1500, rejected: 0, dropped: 0 });
    expect(client.stats().sent).toBeGreaterThanOrEqual(1500);
    expect(client.stats().connected).toBe(true);
    const { rows } = await env.pool.query(
      'SELECT host_id, tripwire_type, severity, rule_name, event_detail FROM alerts WHERE alert_id = $1',
      [ids[7]],
    );
    expect(rows[0]).toEqual({
      host_id: client.hostId,
      tripwire_type: 'FILE',
      severity: 'CRITICAL',
      rule_name: 'etc-passwd-watch',
      event_detail: { path: '/etc/passwd', n: 7 },
    });
  });

  it('a quiet host sends a lone alert at once', async () => {
    const client = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-quiet-01',
    });
    await client.start();
    await until(() => client.stats().connected);
    const id = await client.enqueue(draft(1, { severity: 'INFO', tripwireType: 'NETWORK' }));
    expect(await client.flush(5_000)).toBe(true);
    expect(await storedAlertIds(env, [id])).toEqual([id]);
  });

  it('resends what was not acknowledged after a restart', async () => {
    const stateDir = await agents.stateDir();
    const setup = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-restart-01',
    });
    await setup.start();
    await setup.stop();
    // Stored credentials, but a server that is not there: alerts wait in the outbox.
    const offline = agents.create({ server: '127.0.0.1:1', stateDir, hostname: 'sdk-restart-01' });
    await offline.start();
    const ids = await Promise.all(Array.from({ length: 20 }, (_, n) => offline.enqueue(draft(n))));
    expect(await offline.flush(300)).toBe(false);
    expect(offline.stats()).toMatchObject({ queued: 20, connected: false });
    await offline.stop();

    const online = agents.create({ server: ingest.address, stateDir, hostname: 'sdk-restart-01' });
    await online.start();
    expect(online.stats().queued).toBe(20);
    expect(await online.flush(10_000)).toBe(true);
    expect((await storedAlertIds(env, ids)).sort()).toEqual([...ids].sort());
  });
});

describe('a full outbox', () => {
  it('drops INFO before CRITICAL while offline, and the overflow alert reaches PostgreSQL', async () => {
    const stateDir = await agents.stateDir();
    const setup = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-overflow-01',
    });
    await setup.start();
    await setup.stop();
    const outboxMaxBytes = 16 * 1024;
    const offline = agents.create({
      server: '127.0.0.1:1',
      stateDir,
      hostname: 'sdk-overflow-01',
      outboxMaxBytes,
    });
    await offline.start();
    const pad = 'i'.repeat(300);
    const critical: string[] = [];
    const info: string[] = [];
    for (let n = 0; n < 100; n++) {
      info.push(await offline.enqueue(draft(n, { severity: 'INFO', detail: { pad } })));
      if (n % 20 === 0) critical.push(await offline.enqueue(draft(n, { detail: { pad } })));
    }
    const { dropped } = offline.stats();
    expect(dropped).toBeGreaterThan(50);
    await offline.stop();

    const online = agents.create({ server: ingest.address, stateDir, hostname: 'sdk-overflow-01' });
    await online.start();
    expect(await online.flush(10_000)).toBe(true);
    expect((await storedAlertIds(env, critical)).sort()).toEqual([...critical].sort());
    expect(await storedAlertIds(env, info)).toHaveLength(info.length - dropped);
    const { rows } = await env.pool.query(
      "SELECT severity, event_detail FROM alerts WHERE host_id = $1 AND rule_name = 'tripwire-agent.outbox-overflow'",
      [online.hostId],
    );
    expect(rows).toEqual([
      {
        severity: 'WARN',
        event_detail: expect.objectContaining({
          dropped,
          by_severity: { INFO: dropped, WARN: 0, CRITICAL: 0 },
          outbox_max_bytes: outboxMaxBytes,
          oldest_dropped_at: expect.any(String),
          newest_dropped_at: expect.any(String),
        }),
      },
    ]);
  });
});

describe('server commands', () => {
  it('applies rule updates at once, stores them 0600, and starts with them next time before connecting', async () => {
    const stateDir = await agents.stateDir();
    const global = await createRule(env.pool, {
      hostId: null,
      name: 'shadow-watch',
      tripwireType: 'FILE',
      severity: 'CRITICAL',
      target: '/etc/shadow',
      config: { recursive: false },
    });
    const updates: AgentRule[][] = [];
    const client = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-rules-01',
      onRules: (rules) => updates.push(rules),
    });
    await client.start();
    // The server sends the host's rules when the stream opens.
    await until(() => updates.some((u) => u.some((r) => r.ruleId === global.ruleId)));
    expect(client.rules()).toContainEqual({
      ruleId: global.ruleId,
      hostId: null,
      name: 'shadow-watch',
      tripwireType: 'FILE',
      severity: 'CRITICAL',
      target: '/etc/shadow',
      config: { recursive: false },
      enabled: true,
    });

    // An operator adds a rule for this host: fan-out announces it on the bus's control stream.
    const own = await createRule(env.pool, {
      hostId: client.hostId,
      name: 'ssh-listen',
      tripwireType: 'NETWORK',
      severity: 'WARN',
      target: '22',
    });
    const redis = createRedisClient(env.redisUrl, { failFastWhileDisconnected: true });
    const control = new BusPublisher({ redis, keyPrefix: env.keyPrefix, stream: 'control' });
    control.publish([
      { type: 'rules', data: { host_id: client.hostId, rule_id: own.ruleId, change: 'created' } },
    ]);
    await until(() => client.rules().some((r) => r.ruleId === own.ruleId), 10_000, 'rule update');
    await control.drain(2_000);
    control.close();
    redis.disconnect();
    const rulesFile = join(stateDir, 'rules.json');
    await until(async () =>
      (await readFile(rulesFile, 'utf8').catch(() => '')).includes(own.ruleId),
    );
    expect((await stat(rulesFile)).mode & 0o777).toBe(0o600);
    await client.stop();

    // Next start, with the server unreachable: the stored rules are there before any connection.
    const seen: AgentRule[][] = [];
    const offline = agents.create({
      server: '127.0.0.1:1',
      stateDir,
      onRules: (rules) => seen.push(rules),
    });
    await offline.start();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((r) => r.ruleId).sort()).toEqual([global.ruleId, own.ruleId].sort());
    expect(offline.rules()).toEqual(seen[0]);
    await offline.stop();
  });

  it('answers pings: ingest observes the round trip', async () => {
    const before = await metricValue(ingest, 'tripwire_ingest_agent_ping_rtt_seconds_count');
    const client = agents.create({
      server: ingest.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-ping-01',
    });
    await client.start();
    await until(
      async () =>
        (await metricValue(ingest, 'tripwire_ingest_agent_ping_rtt_seconds_count')) >= before + 3,
      5_000,
      'three answered pings',
    );
    // Answering does not disturb the stream: it is still open and delivering.
    const id = await client.enqueue(draft(1));
    expect(await client.flush(5_000)).toBe(true);
    expect(await storedAlertIds(env, [id])).toEqual([id]);
    expect(client.stats().reconnects).toBe(0);
  });
});
