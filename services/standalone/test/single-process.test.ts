import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentClient } from '@tripwire/agent-sdk';
import { createPool } from '@tripwire/storage';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type RunningSystem, startSingleProcess } from '../src/single-process.js';

// No DATABASE_URL / REDIS_URL (empty counts as unset): embedded PGlite and the memory bus.
const env = {
  DATABASE_URL: '',
  REDIS_URL: '',
  GRPC_PORT: '0',
  HTTP_PORT: '0',
  PORT: '0',
  METRICS_PORT: '0',
  LOG_LEVEL: 'silent',
  BATCH_MAX_DELAY_MS: '5',
};
const homeDir = mkdtempSync(join(tmpdir(), 'tw-standalone-'));
afterAll(() => rmSync(homeDir, { recursive: true, force: true }));

async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function api(system: RunningSystem, path: string) {
  const res = await fetch(new URL(path, system.dashboardUrl), {
    headers: { authorization: `Bearer ${system.adminToken}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown[]> };
}

function watch(system: RunningSystem, since?: string) {
  const url = new URL('/ws/alerts', system.dashboardUrl.replace('http:', 'ws:'));
  if (since) url.searchParams.set('since', since);
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${system.adminToken}` } });
  const frames: Array<{
    type: string;
    position?: string;
    data?: { alert_id: string };
    resume?: { status: string; source?: string };
  }> = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  return { ws, frames, opened: new Promise((r) => ws.once('open', r)) };
}

describe('pnpm start: the whole system in one process', () => {
  const sent: string[] = [];
  let firstTokens: { enrollment: string; admin: string } | undefined;
  let lastPosition = '';

  it('takes an agent, shows its alerts live on /ws/alerts and in /api/alerts, from PGlite', async () => {
    const system = await startSingleProcess({ homeDir, env });
    try {
      expect(system.storage).toMatch(/PGlite/);
      expect(system.bus).toMatch(/memory/);
      expect(system.generatedAdminToken).toBe(system.adminToken);
      firstTokens = { enrollment: system.enrollmentToken, admin: system.adminToken };

      const ready = await fetch(new URL('/readyz', system.dashboardUrl));
      expect(ready.status).toBe(200);
      expect((await fetch(new URL('/readyz', system.probesUrl))).status).toBe(200);
      // Node.js's metrics under their standard names, the service a label (operations.md#monitoring).
      const metrics = await (await fetch(new URL('/metrics', system.probesUrl))).text();
      expect(metrics).toMatch(/^process_resident_memory_bytes\{service="ingest"\} \d/m);
      const page = await fetch(system.dashboardUrl);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);

      const browser = watch(system);
      await browser.opened;
      await until(() => browser.frames.some((f) => f.type === 'welcome'));

      const agent = createAgentClient({
        server: system.grpcTarget,
        enrollmentToken: system.enrollmentToken,
        stateDir: join(homeDir, 'agent'),
        agentVersion: '1.0.0',
        hostname: 'standalone-test-host',
      });
      await agent.start();
      for (let i = 0; i < 40; i++) {
        sent.push(
          await agent.enqueue({
            tripwireType: i % 2 ? 'FILE' : 'PROCESS',
            severity: 'CRITICAL',
            ruleName: 'etc-passwd-watch',
            detail: { path: '/etc/passwd', n: i },
          }),
        );
      }
      expect(await agent.flush(20_000)).toBe(true);
      await agent.stop();

      await until(() => browser.frames.filter((f) => f.type === 'alert').length >= sent.length);
      const live = browser.frames.filter((f) => f.type === 'alert').map((f) => f.data!.alert_id);
      expect(live.sort()).toEqual([...sent].sort());
      lastPosition = browser.frames.filter((f) => f.type === 'alert').at(-1)!.position!;
      browser.ws.close();

      const { status, body } = await api(system, '/api/alerts?limit=100');
      expect(status).toBe(200);
      const stored = (body.alerts as Array<{ alert_id: string }>).map((a) => a.alert_id);
      expect(stored.sort()).toEqual([...sent].sort());
      // Search and export run on PGlite too (its pg_trgm; the cursor on its one backend).
      const searched = await api(system, '/api/alerts?q=ETC/PASSWD&type=FILE&limit=100');
      expect(searched.body.alerts).toHaveLength(sent.length / 2);
      expect((await api(system, '/api/alerts?q=etc/shadow')).body.alerts).toEqual([]);
      const csv = await fetch(new URL('/api/alerts/export?format=csv', system.dashboardUrl), {
        headers: { authorization: `Bearer ${system.adminToken}` },
      });
      expect(csv.status).toBe(200);
      expect((await csv.text()).trimEnd().split('\n')).toHaveLength(1 + sent.length);
      const hosts = await api(system, '/api/hosts');
      expect(hosts.body.hosts).toEqual([
        expect.objectContaining({ hostname: 'standalone-test-host' }),
      ]);
    } finally {
      await system.stop();
    }
  });

  it('keeps alerts, tokens and the database password across a restart on the same data folder', async () => {
    const secretsFile = join(homeDir, 'secrets.json');
    const before = JSON.parse(readFileSync(secretsFile, 'utf8')) as { databasePassword: string };
    const system = await startSingleProcess({ homeDir, env });
    try {
      expect(system.enrollmentToken).toBe(firstTokens?.enrollment);
      expect(system.adminToken).toBe(firstTokens?.admin);
      // The embedded database asks for the password kept in secrets.json (0600), and the
      // banner's storage line names the port without it.
      expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
      expect(before.databasePassword).toMatch(/^[\w-]{32}$/);
      expect(system.storage).not.toContain(before.databasePassword);
      const port = /127\.0\.0\.1:(\d+)\/postgres/.exec(system.storage)?.[1];
      const db = createPool({
        databaseUrl: `postgres://postgres:${before.databasePassword}@127.0.0.1:${port}/postgres`,
        max: 1,
      });
      try {
        expect((await db.query('SELECT count(*)::int AS n FROM hosts')).rows).toEqual([{ n: 1 }]);
      } finally {
        await db.end();
      }
      const { body } = await api(system, '/api/alerts?limit=100');
      const stored = (body.alerts as Array<{ alert_id: string }>).map((a) => a.alert_id);
      expect(stored.sort()).toEqual([...sent].sort());
      // The memory bus's history died with the process (a new epoch): a browser resuming from
      // before the restart is caught up from the database, not told it is up to date.
      const browser = watch(system, lastPosition);
      await browser.opened;
      await until(() => browser.frames.some((f) => f.type === 'welcome'));
      expect(browser.frames[0]!.resume).toMatchObject({ status: 'replayed', source: 'database' });
      browser.ws.close();
    } finally {
      await system.stop();
    }
  });

  it('uses the configured enrollment token and admin token instead of generated ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-standalone-env-'));
    const system = await startSingleProcess({
      homeDir: dir,
      env: {
        ...env,
        ENROLLMENT_TOKEN: 'configured-enrollment-token-0123',
        OPERATOR_ADMIN_TOKEN: 'not-printed',
      },
    });
    try {
      expect(system.enrollmentToken).toBe('configured-enrollment-token-0123');
      expect(system.generatedAdminToken).toBeUndefined();
    } finally {
      await system.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
