import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  adoptHostStream,
  claimHostStream,
  expireHostStreams,
  findHostByTokenHash,
  getHost,
  listHosts,
  releaseHostStream,
  renewHostStreams,
  setHostStatus,
  upsertHost,
} from '../src/host-store.js';
import type { Host } from '../src/models.js';
import {
  createRule,
  deleteRule,
  getRule,
  listAllRules,
  listRules,
  updateRule,
} from '../src/rule-store.js';
import { useTestDatabase } from './test-database.js';

const t = useTestDatabase();
const registration = (hostname: string) => ({
  hostname,
  platform: 'linux',
  agentVersion: '1.0.0',
  agentTokenHash: randomBytes(32),
});

describe('hosts', () => {
  it('upserts by hostname: same host_id, new token hash, updated fields', async () => {
    const first = await upsertHost(t.pool, registration('web-01'));
    const secondReg = { ...registration('web-01'), platform: 'darwin', agentVersion: '2.0.0' };
    const second = await upsertHost(t.pool, secondReg);
    expect(second.hostId).toBe(first.hostId);
    expect(second.platform).toBe('darwin');
    expect(second.agentVersion).toBe('2.0.0');
    expect((await findHostByTokenHash(t.pool, secondReg.agentTokenHash))?.hostId).toBe(
      first.hostId,
    );
    expect(await getHost(t.pool, first.hostId)).toMatchObject({
      hostname: 'web-01',
      status: 'offline',
    });
  });

  it('lists hosts by hostname', async () => {
    await upsertHost(t.pool, registration('zz-last'));
    await upsertHost(t.pool, registration('aa-first'));
    const names = (await listHosts(t.pool)).map((h) => h.hostname);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('aa-first');
  });

  it('records liveness with last_seen', async () => {
    const host = await upsertHost(t.pool, registration('db-01'));
    expect(host.lastSeen).toBeNull();
    expect((await setHostStatus(t.pool, host.hostId, 'online'))?.status).toBe('online');
    const off = await setHostStatus(t.pool, host.hostId, 'offline');
    expect(off?.status).toBe('offline');
    expect(off?.lastSeen).toBeInstanceOf(Date);
  });
});

describe('host status_version', () => {
  it('is bumped by every change of status or stream holder, and read by every query', async () => {
    const reg = registration(`v-${randomUUID()}`);
    const host = await upsertHost(t.pool, reg);
    expect(host.statusVersion).toBe(0);
    const version = async () => (await getHost(t.pool, host.hostId))!.statusVersion;

    expect((await setHostStatus(t.pool, host.hostId, 'online'))?.statusVersion).toBe(1);
    expect((await setHostStatus(t.pool, host.hostId, 'offline'))?.statusVersion).toBe(2);
    expect((await claimHostStream(t.pool, host.hostId, 'i1'))?.statusVersion).toBe(3);
    // Another instance takes the lease: no status change to publish, but a new holder.
    expect(await claimHostStream(t.pool, host.hostId, 'i2')).toBeNull();
    expect(await version()).toBe(4);
    // A renewal changes neither; a release by the instance that lost the lease does nothing.
    await renewHostStreams(t.pool, 'i2', [host.hostId]);
    expect(await releaseHostStream(t.pool, host.hostId, 'i1')).toBeNull();
    expect(await version()).toBe(4);
    expect((await releaseHostStream(t.pool, host.hostId, 'i2'))?.statusVersion).toBe(5);
    expect((await adoptHostStream(t.pool, host.hostId, 'i1'))?.statusVersion).toBe(6);
    // The lease expires: the sweeper's change is bumped too.
    await t.pool.query(
      "UPDATE hosts SET stream_seen_at = now() - interval '1 hour' WHERE host_id = $1",
      [host.hostId],
    );
    const expired = (await expireHostStreams(t.pool, 1000)).find((h) => h.hostId === host.hostId);
    expect(expired).toMatchObject({ status: 'offline', statusVersion: 7 });
    expect((await listHosts(t.pool)).find((h) => h.hostId === host.hostId)?.statusVersion).toBe(7);
    expect((await findHostByTokenHash(t.pool, reg.agentTokenHash))?.statusVersion).toBe(7);
  });

  it('orders concurrent claims and releases by two instances: the highest version is the row', async () => {
    const host = await upsertHost(t.pool, registration(`race-${randomUUID()}`));
    let previous = 0;
    for (let round = 0; round < 20; round++) {
      // Both instances open and close streams at once, as when an agent moves between them.
      const ops = ['i1', 'i2'].flatMap((instance) => [
        () => claimHostStream(t.pool, host.hostId, instance),
        () => releaseHostStream(t.pool, host.hostId, instance),
      ]);
      const results = await Promise.all(ops.sort(() => Math.random() - 0.5).map((op) => op()));
      const published = results.filter((h): h is Host => h !== null);
      const versions = published.map((h) => h.statusVersion);
      expect(new Set(versions).size).toBe(versions.length);
      for (const v of versions) expect(v).toBeGreaterThan(previous);
      const row = (await getHost(t.pool, host.hostId))!;
      expect(Math.max(...versions, 0)).toBeLessThanOrEqual(row.statusVersion);
      const newest = published.sort((a, b) => b.statusVersion - a.statusVersion)[0];
      if (newest) expect(newest.status).toBe(row.status);
      previous = row.statusVersion;
    }
    // Sequential writes strictly increase it.
    const before = (await getHost(t.pool, host.hostId))!.statusVersion;
    await claimHostStream(t.pool, host.hostId, 'i1');
    await releaseHostStream(t.pool, host.hostId, 'i1');
    expect((await getHost(t.pool, host.hostId))!.statusVersion).toBe(before + 2);
  });
});

describe('tripwire rules', () => {
  it('creates, reads, updates and deletes a rule', async () => {
    const host = await upsertHost(t.pool, registration(`rules-${randomUUID()}`));
    const rule = await createRule(t.pool, {
      hostId: host.hostId,
      name: 'sshd-config',
      tripwireType: 'FILE',
      severity: 'CRITICAL',
      target: '/etc/ssh/sshd_config',
      config: { recursive: false },
    });
    expect(await getRule(t.pool, rule.ruleId)).toEqual(rule);

    const updated = await updateRule(t.pool, rule.ruleId, {
      hostId: host.hostId,
      name: 'sshd-config',
      tripwireType: 'FILE',
      severity: 'WARN',
      target: '/etc/ssh',
      config: { recursive: true },
      enabled: false,
    });
    expect(updated).toMatchObject({ severity: 'WARN', target: '/etc/ssh', enabled: false });
    expect(updated!.updatedAt.getTime()).toBeGreaterThanOrEqual(rule.updatedAt.getTime());

    expect(await deleteRule(t.pool, rule.ruleId)).toBe(true);
    expect(await getRule(t.pool, rule.ruleId)).toBeNull();
    expect(await deleteRule(t.pool, rule.ruleId)).toBe(false);
    expect(await updateRule(t.pool, rule.ruleId, { ...updated!, hostId: null })).toBeNull();
  });

  it("lists a host's rules together with the global ones, not other hosts'", async () => {
    const a = await upsertHost(t.pool, registration(`a-${randomUUID()}`));
    const b = await upsertHost(t.pool, registration(`b-${randomUUID()}`));
    const base = { tripwireType: 'PROCESS' as const, severity: 'WARN' as const, target: 'nc -l' };
    const global = await createRule(t.pool, {
      ...base,
      hostId: null,
      name: `global-${randomUUID()}`,
    });
    const forA = await createRule(t.pool, { ...base, hostId: a.hostId, name: 'only-a' });
    const forB = await createRule(t.pool, { ...base, hostId: b.hostId, name: 'only-b' });

    const ids = (rules: { ruleId: string }[]) => rules.map((r) => r.ruleId);
    expect(ids(await listRules(t.pool, a.hostId))).toEqual(
      expect.arrayContaining([global.ruleId, forA.ruleId]),
    );
    expect(ids(await listRules(t.pool, a.hostId))).not.toContain(forB.ruleId);
    expect(ids(await listRules(t.pool, null))).toContain(global.ruleId);
    expect(ids(await listRules(t.pool, null))).not.toContain(forA.ruleId);
    expect(ids(await listAllRules(t.pool))).toEqual(
      expect.arrayContaining([global.ruleId, forA.ruleId, forB.ruleId]),
    );
  });

  it('refuses two global rules with the same name', async () => {
    const rule = {
      hostId: null,
      name: `dup-${randomUUID()}`,
      tripwireType: 'NETWORK' as const,
      severity: 'INFO' as const,
      target: '4444',
    };
    await createRule(t.pool, rule);
    await expect(createRule(t.pool, rule)).rejects.toThrow(/tripwire_rules_name_unique/);
  });
});
