import { randomUUID } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { insertAlerts, type NewAlert } from '@tripwire/storage';
import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  type RunningFanout,
  startFanout,
  testHost,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;
let hostId: string;

/** A raw HTTP GET (no automatic decompression): status, headers and the body's bytes. */
function get(path: string, token: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
    (resolve, reject) => {
      const req = request(
        `${fanout.url}${path}`,
        { headers: { authorization: `Bearer ${token}`, ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

const alert = (over: Partial<NewAlert>): NewAlert => ({
  alertId: randomUUID(),
  hostId,
  occurredAtUs: Date.now() * 1000,
  tripwireType: 'FILE',
  severity: 'WARN',
  ruleName: 'etc-watch',
  eventDetailJson: '{"path":"/etc/hosts"}',
  ...over,
});

const auditRows = async (action: string) =>
  (
    await env.pool.query(
      'SELECT actor, details FROM audit_entries WHERE action = $1 ORDER BY seq',
      [action],
    )
  ).rows as Array<{ actor: string; details: Record<string, unknown> }>;

beforeAll(async () => {
  fanout = await startFanout(env, {
    EXPORT_BATCH_ROWS: '10',
    EXPORTS_PER_OPERATOR_PER_MINUTE: '1000',
  });
  viewer = await auth.issue('vic', 'viewer');
  hostId = (await testHost(env.pool)).hostId;
  await insertAlerts(env.pool, [
    alert({ ruleName: '=HYPERLINK("http://evil.example","x")', severity: 'CRITICAL' }),
    alert({ ruleName: 'ssh-keys', eventDetailJson: '{"path":"/root/.ssh/authorized_keys"}' }),
    alert({ ruleName: 'cron', eventDetailJson: '{"cmd":"-1+2","user":"@root"}' }),
    ...Array.from({ length: 25 }, (_, i) =>
      alert({ ruleName: `bulk-${i}`, eventDetailJson: `{"n":${i},"tag":"bulk"}` }),
    ),
  ]);
});
afterAll(async () => {
  await fanout?.stop();
});

describe('GET /api/alerts?q=', () => {
  it('finds alerts by rule name or event_detail text, with the other filters and paging', async () => {
    const res = await get(`/api/alerts?host_id=${hostId}&q=AUTHORIZED_keys`, viewer);
    const body = JSON.parse(res.body.toString());
    expect(body.alerts.map((a: { rule_name: string }) => a.rule_name)).toEqual(['ssh-keys']);
    const paged: string[] = [];
    let cursor = '';
    do {
      const page = JSON.parse(
        (
          await get(`/api/alerts?host_id=${hostId}&q=bulk&limit=10${cursor}`, viewer)
        ).body.toString(),
      );
      paged.push(...page.alerts.map((a: { rule_name: string }) => a.rule_name));
      cursor = page.next_cursor ? `&cursor=${page.next_cursor}` : '';
    } while (cursor);
    expect(paged).toHaveLength(25);
    const critical = JSON.parse(
      (await get(`/api/alerts?host_id=${hostId}&q=bulk&severity=CRITICAL`, viewer)).body.toString(),
    );
    expect(critical.alerts).toEqual([]);
  });

  it('answers any q with results or a 400, never a failure, and never as a wildcard', async () => {
    await fuzz(
      'alert search q',
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 220 }),
          fc.stringMatching(/^[%_\\*?'"()[\]{}|&;$`<>-]{3,12}$/),
          fc.constantFrom('%%%', '___', '\\\\', "'; DROP TABLE alerts; --", '\u0000abc', '%s%s%s'),
        ),
        async (q) => {
          const res = await get(`/api/alerts?host_id=${hostId}&q=${encodeURIComponent(q)}`, viewer);
          expect([200, 400]).toContain(res.status);
          if (res.status === 200 && /^[%_\\]+$/.test(q.trim()))
            expect(JSON.parse(res.body.toString()).alerts).toEqual([]);
        },
      ),
      60,
    );
  });

  it('refuses a q shorter than 3 characters with a specific 400', async () => {
    const res = await get(`/api/alerts?q=ab`, viewer);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error).toMatchObject({
      code: 'invalid_parameter',
      message: expect.stringContaining('q must be 3 to 200 characters'),
    });
  });
});

describe('GET /api/alerts/export', () => {
  it('streams the filter as CSV, formulas escaped, and records who exported what', async () => {
    const res = await get(
      `/api/alerts/export?format=csv&host_id=${hostId}&severity=CRITICAL,WARN`,
      viewer,
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(
      /^attachment; filename="tripwire-alerts-\d{8}T\d{6}Z\.csv"$/,
    );
    expect(res.headers['content-encoding']).toBeUndefined();
    const lines = res.body.toString().trimEnd().split('\n');
    expect(lines[0]).toBe(
      'alert_id,received_at,timestamp,timestamp_us,host_id,tripwire_type,severity,rule_name,event_detail',
    );
    expect(lines).toHaveLength(1 + 28);
    const text = res.body.toString();
    expect(text).toContain(`,CRITICAL,"'=HYPERLINK(""http://evil.example"",""x"")",`);
    expect(text).toContain('"{""cmd"":""-1+2"",""user"":""@root""}"');
    await until(async () => (await auditRows('alerts.export_end')).length > 0);
    const [started] = await auditRows('alerts.export');
    expect(started).toMatchObject({
      actor: 'operator:vic',
      details: {
        format: 'csv',
        filter: { host_id: hostId, severity: ['CRITICAL', 'WARN'], q: null },
      },
    });
    expect((await auditRows('alerts.export_end'))[0]?.details).toMatchObject({
      rows: 28,
      completed: true,
    });
  });

  it('sends NDJSON gzip-compressed when asked, with the search applied', async () => {
    const res = await get(`/api/alerts/export?format=ndjson&host_id=${hostId}&q=bulk`, viewer, {
      'accept-encoding': 'br;q=1, gzip;q=0.5',
    });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const rows = gunzipSync(res.body)
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(25);
    expect(rows[0]).toMatchObject({ host_id: hostId, event_detail: { tag: 'bulk' } });
    const refused = await get(`/api/alerts/export?format=ndjson&q=bulk`, viewer, {
      'accept-encoding': 'gzip;q=0',
    });
    expect(refused.headers['content-encoding']).toBeUndefined();
  });

  it('refuses a bad format or filter before anything is streamed', async () => {
    for (const path of ['format=xlsx', 'q=a', 'severity=LOUD', 'from=yesterday']) {
      const res = await get(`/api/alerts/export?${path}`, viewer);
      expect(res.status, path).toBe(400);
      expect(res.headers['content-type']).toBe('application/json');
    }
    expect((await get('/api/alerts/export', 'not-a-token')).status).toBe(401);
  });
});

describe('GET /api/incidents/export and /api/audit/export', () => {
  it('export incidents and the audit log in chain order for a viewer', async () => {
    await env.pool.query(
      "INSERT INTO incidents (host_id, rule_name, tripwire_type, state, max_severity, alert_count, first_seen, last_seen, created_by) VALUES ($1, '+cmd', 'FILE', 'OPEN', 'CRITICAL', 3, now(), now(), 'test')",
      [hostId],
    );
    const incidents = await get('/api/incidents/export?format=ndjson&state=OPEN', viewer);
    expect(incidents.status).toBe(200);
    const rows = incidents.body
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.rule_name)).toContain('+cmd');
    const csv = (await get('/api/incidents/export?format=csv', viewer)).body.toString();
    expect(csv).toContain(",'+cmd,");

    const audit = await get('/api/audit/export?format=ndjson', viewer);
    const entries = audit.body
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const seqs = entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(entries.map((e) => e.action)).toContain('incidents.export');
  });
});

describe('an export whose client stops reading', () => {
  it('holds one slot per operator, and going away closes the cursor and frees the connection', async () => {
    // ~8 MB of rows: more than socket buffers hold, so the server must wait on backpressure.
    const big = JSON.stringify({ blob: 'x'.repeat(40_000) });
    const bigHost = (await testHost(env.pool, 'big-host')).hostId;
    for (let i = 0; i < 4; i++)
      await insertAlerts(
        env.pool,
        Array.from({ length: 50 }, () => alert({ hostId: bigHost, eventDetailJson: big })),
      );
    const holder = await auth.issue('hold', 'viewer');
    const held = await new Promise<{ destroy(): void }>((resolve, reject) => {
      const req = request(
        `${fanout.url}/api/alerts/export?host_id=${bigHost}`,
        { headers: { authorization: `Bearer ${holder}` } },
        (res) => {
          res.pause(); // reads nothing more: the server's writes back up
          resolve({ destroy: () => req.destroy() });
        },
      );
      req.on('error', () => {});
      req.on('error', reject);
      req.end();
    });
    const exportsInTransaction = async () =>
      Number(
        (
          await env.pool.query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND xact_start IS NOT NULL AND query LIKE '%FROM alerts a WHERE%' AND pid <> pg_backend_pid()",
          )
        ).rows[0].n,
      );
    expect(await exportsInTransaction()).toBe(1);
    const second = await get(`/api/alerts/export?host_id=${bigHost}`, holder);
    expect(second.status).toBe(429);
    expect(JSON.parse(second.body.toString()).error.code).toBe('too_many_exports');
    // Another operator is not held up by it.
    expect((await get(`/api/audit/export`, viewer)).status).toBe(200);

    held.destroy();
    await until(async () => (await exportsInTransaction()) === 0, 10_000, 'the cursor closed');
    await until(
      async () => (await auditRows('alerts.export_end')).some((r) => r.details.completed === false),
      10_000,
      'the aborted export audited',
    );
    const again = await get(`/api/alerts/export?host_id=${bigHost}&format=ndjson`, holder);
    expect(again.status).toBe(200);
    expect(again.body.toString().trimEnd().split('\n')).toHaveLength(200);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_exports_total\{kind="alerts",outcome="aborted"\} 1/);
  });
});
