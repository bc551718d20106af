import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  callApi,
  type RunningFanout,
  signIn,
  startFanout,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';
import { connectAgent, newHost, text } from './task-agent-side.js';

const env = useEnvironment();
let fanout: RunningFanout;
const tokens: Record<'viewer' | 'responder' | 'admin' | 'admin2', string> = {
  viewer: '',
  responder: '',
  admin: '',
  admin2: '',
};

beforeAll(async () => {
  fanout = await startFanout(env, {
    TASKS_SHELL_APPROVAL: 'true',
    TASKS_PER_OPERATOR_PER_MINUTE: '25',
  });
  tokens.viewer = await auth.issue('vic', 'viewer');
  tokens.responder = await auth.issue('rita', 'responder');
  tokens.admin = await auth.issue('alice', 'admin');
  tokens.admin2 = await auth.issue('bob', 'admin');
});
afterAll(async () => {
  await fanout?.stop();
});

type Who = keyof typeof tokens;
const api = (who: Who, path: string, method = 'GET', body?: unknown) =>
  callApi(fanout.url, path, { token: tokens[who], method, body });
const create = (who: Who, hostId: string, body: unknown) =>
  api(who, `/api/hosts/${hostId}/tasks`, 'POST', body);
const auditOf = async (taskId: string) =>
  ((await api('admin', '/api/audit?limit=5000')).body.entries as Array<Record<string, unknown>>)
    .filter((e) => e.target === taskId)
    .map((e) => ({ actor: e.actor, action: e.action, host_id: e.host_id, details: e.details }));

describe('POST /api/hosts/{id}/tasks', () => {
  it('lets a responder run a non-shell action, refuses viewers, and audits the creation', async () => {
    const host = await newHost(env);
    const refused = await create('viewer', host.hostId, {
      action: 'file_hash',
      parameters: { path: '/etc/passwd' },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden_role');

    const alertId = randomUUID();
    const res = await create('responder', host.hostId, {
      action: 'kill_process',
      parameters: { pid: 4242, start_ticks: 987654, signal: 'SIGTERM' },
      timeout_seconds: 30,
      alert_id: alertId,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.task).toMatchObject({
      host_id: host.hostId,
      hostname: host.hostname,
      action: 'kill_process',
      parameters: { pid: 4242, start_ticks: '987654', signal: 'SIGTERM' },
      state: 'QUEUED',
      created_by: 'operator:rita',
      timeout_s: 30,
      alert_id: alertId,
    });
    const linked = await api('viewer', `/api/tasks?alert_id=${alertId}`);
    expect(linked.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual([
      res.body.task.task_id,
    ]);
    expect(await auditOf(res.body.task.task_id)).toEqual([
      {
        actor: 'operator:rita',
        action: 'task.create',
        host_id: host.hostId,
        details: expect.objectContaining({
          task_action: 'kill_process',
          parameters: { pid: 4242, start_ticks: '987654', signal: 'SIGTERM' },
        }),
      },
    ]);
  });

  it('keeps shell for admins', async () => {
    const host = await newHost(env);
    const shell = { action: 'shell_execute', parameters: { cmd: 'id' } };
    const refused = await create('responder', host.hostId, shell);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('admin');
    expect((await create('admin', host.hostId, shell)).status).toBe(201);
  });

  it('names every bad field, refuses unknown ones, and 404s an unknown host', async () => {
    const host = await newHost(env);
    const bad = await create('admin', host.hostId, {
      action: 'file_hash',
      parameters: { path: 'relative/path' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual({ 'parameters.path': 'must be an absolute path' });

    const extra = await create('admin', host.hostId, {
      action: 'process_list',
      priority: 'high',
      timeout_seconds: 0,
    });
    expect(extra.status).toBe(400);
    expect(extra.body.error.fields).toEqual({
      priority: 'is not a known field',
      timeout_seconds: 'must be at least 1',
    });

    const unknownParam = await create('admin', host.hostId, {
      action: 'process_list',
      parameters: { all: true },
    });
    expect(unknownParam.body.error.fields).toHaveProperty('parameters.all');

    const tooLong = await create('admin', host.hostId, {
      action: 'process_list',
      timeout_seconds: 3601,
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.fields).toHaveProperty('timeout_seconds');

    const noHost = await create('admin', randomUUID(), { action: 'process_list' });
    expect(noHost.status).toBe(404);
    expect(noHost.body.error.code).toBe('host_not_found');
    expect((await create('admin', 'web-01', { action: 'process_list' })).status).toBe(404);
  });

  it('refuses a cookie-signed creation from another origin (CSRF)', async () => {
    const host = await newHost(env);
    const cookie = await signIn(fanout.url, tokens.admin);
    const res = await fetchDocumented(`${fanout.url}/api/hosts/${host.hostId}/tasks`, {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'process_list' }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'cross_site_request',
    );
    const listed = await api('admin', `/api/tasks?host_id=${host.hostId}`);
    expect(listed.body.tasks).toEqual([]);
  });

  it('limits creations per operator (429 with Retry-After)', async () => {
    const ops = await auth.issue('busy', 'responder');
    const host = await newHost(env);
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof callApi>> | null = null;
    for (let i = 0; i < 26; i++) {
      last = await callApi(fanout.url, `/api/hosts/${host.hostId}/tasks`, {
        token: ops,
        method: 'POST',
        body: { action: 'process_list' },
      });
      statuses.push(last.status);
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(25);
    expect(last!.status).toBe(429);
    expect(last!.body.error).toMatchObject({ code: 'too_many_tasks', scope: 'operator' });
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('approval, cancel and reading', () => {
  it('holds a shell task for a second admin: the creator and responders cannot approve it', async () => {
    const host = await newHost(env);
    const created = await create('admin', host.hostId, {
      action: 'shell_execute',
      parameters: { cmd: 'uptime' },
    });
    const id = created.body.task.task_id as string;
    expect(created.body.task.state).toBe('AWAITING_APPROVAL');

    const self = await api('admin', `/api/tasks/${id}/approve`, 'POST', {});
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('self_approval');
    expect((await api('responder', `/api/tasks/${id}/approve`, 'POST', {})).status).toBe(403);

    const approved = await api('admin2', `/api/tasks/${id}/approve`, 'POST', {});
    expect(approved.status).toBe(200);
    expect(approved.body.task).toMatchObject({ state: 'QUEUED', approved_by: 'operator:bob' });
    const again = await api('admin2', `/api/tasks/${id}/approve`, 'POST', {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'invalid_transition', from: 'QUEUED' });

    expect((await auditOf(id)).map((e) => [e.actor, e.action])).toEqual([
      ['operator:alice', 'task.create'],
      ['operator:bob', 'task.approve'],
    ]);
  });

  it('leaves a shell task to admins to cancel, as gRPC does', async () => {
    const host = await newHost(env);
    const created = await create('admin', host.hostId, {
      action: 'shell_execute',
      parameters: { cmd: 'uptime' },
    });
    const id = created.body.task.task_id as string;
    const refused = await api('responder', `/api/tasks/${id}/cancel`, 'POST', {});
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden_role');
    expect((await api('admin2', `/api/tasks/${id}/cancel`, 'POST', {})).body.task).toMatchObject({
      state: 'CANCELLED',
      cancel_requested_by: 'operator:bob',
    });
  });

  it('cancels a queued task at once, then refuses a second cancel', async () => {
    const host = await newHost(env);
    const id = (await create('responder', host.hostId, { action: 'process_list' })).body.task
      .task_id as string;
    expect((await api('viewer', `/api/tasks/${id}/cancel`, 'POST', {})).status).toBe(403);
    const res = await api('responder', `/api/tasks/${id}/cancel`, 'POST', { reason: 'wrong host' });
    expect(res.status).toBe(200);
    expect(res.body.task).toMatchObject({
      state: 'CANCELLED',
      cancel_requested_by: 'operator:rita',
    });
    expect((await api('responder', `/api/tasks/${id}/cancel`, 'POST', {})).status).toBe(409);
    expect((await auditOf(id)).at(-1)).toMatchObject({
      actor: 'operator:rita',
      action: 'task.cancel',
      details: expect.objectContaining({ from: 'QUEUED', to: 'CANCELLED', reason: 'wrong host' }),
    });
  });

  it('lists tasks newest first by host, state and action, a page at a time', async () => {
    const host = await newHost(env);
    const ids: string[] = [];
    for (const action of ['process_list', 'network_connections', 'process_list']) {
      ids.push((await create('admin2', host.hostId, { action })).body.task.task_id);
    }
    await api('admin2', `/api/tasks/${ids[0]}/cancel`, 'POST', {});
    const q = `host_id=${host.hostId}`;
    const first = await api('viewer', `/api/tasks?${q}&limit=2`);
    expect(first.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual([ids[2], ids[1]]);
    const second = await api('viewer', `/api/tasks?${q}&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body).toMatchObject({ tasks: [{ task_id: ids[0] }], next_cursor: null });
    const lists = await api('viewer', `/api/tasks?${q}&action=process_list&state=QUEUED`);
    expect(lists.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual([ids[2]]);
    expect((await api('viewer', '/api/tasks?state=DONE')).status).toBe(400);
    expect((await api('viewer', '/api/tasks?action=rm_rf')).status).toBe(400);
    expect((await api('viewer', `/api/tasks/${randomUUID()}`)).status).toBe(404);
  });

  it('serves the output in pages without skipping a chunk, and the host policy', async () => {
    const host = await newHost(env);
    const agent = await connectAgent(env, host.hostId);
    const policy = await api('viewer', `/api/hosts/${host.hostId}/task-policy`);
    expect(policy.body.policy).toMatchObject({ connected: true, shell_restricted: true });
    expect(policy.body.policy.enabled_actions).not.toContain('shell_execute');

    const id = (await create('admin', host.hostId, { action: 'process_list' })).body.task.task_id;
    await agent.claim();
    await agent.respond(id, { sequence: 1 });
    for (let seq = 2; seq <= 12; seq++) {
      await agent.respond(id, {
        sequence: seq,
        output: [text('stdout', `out${seq} `), text('stderr', `err${seq} `)],
      });
    }
    await agent.respond(id, { sequence: 13, status: 'SUCCEEDED', isFinal: true });
    const seen: string[] = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const res = await api('viewer', `/api/tasks/${id}/output?after=${after}&limit=9`);
      expect(res.status).toBe(200);
      for (const o of res.body.output) seen.push(o.text);
      if (res.body.next_after === null) break;
      after = res.body.next_after;
    }
    const expected = Array.from({ length: 11 }, (_, i) => [`out${i + 2} `, `err${i + 2} `]).flat();
    // Every chunk exactly once (within one sequence storage orders the streams by name).
    expect(seen).toHaveLength(expected.length);
    expect([...seen].sort()).toEqual([...expected].sort());
    const task = await api('viewer', `/api/tasks/${id}`);
    expect(task.body.task).toMatchObject({
      state: 'SUCCEEDED',
      stdout_bytes: 58,
      stderr_bytes: 58,
    });
  });

  it('hands file_fetch content over as an attachment that is never rendered', async () => {
    const host = await newHost(env);
    const agent = await connectAgent(env, host.hostId);
    const id = (
      await create('responder', host.hostId, {
        action: 'file_fetch',
        parameters: { path: '/var/www/"evil"\r\nX-Injected: 1.html' },
      })
    ).body.task.task_id;
    await agent.claim();
    const html = Buffer.from('<script>alert(document.cookie)</script>\x00\xff');
    await agent.respond(id, { sequence: 1 });
    await agent.respond(id, { sequence: 2, output: [{ stream: 'file', data: html }] });
    await agent.respond(id, { sequence: 3, status: 'SUCCEEDED', isFinal: true });

    const res = await fetchDocumented(`${fanout.url}/api/tasks/${id}/output?download=1`, {
      headers: { authorization: `Bearer ${tokens.viewer}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="_evil___X-Injected__1.html"',
    );
    expect(res.headers.get('x-injected')).toBeNull();
    expect(Buffer.from(await res.arrayBuffer())).toEqual(html);
    // The JSON listing names the chunk but never carries the bytes.
    const listing = await api('viewer', `/api/tasks/${id}/output`);
    expect(listing.body.output).toEqual([
      expect.objectContaining({ stream: 'file', bytes: html.length, text: null }),
    ]);
    const other = (await create('admin', host.hostId, { action: 'process_list' })).body.task
      .task_id;
    expect((await api('viewer', `/api/tasks/${other}/output?download=1`)).status).toBe(409);
  });

  it('streams a large fetched file page by page, and survives a reader that goes away', async () => {
    const host = await newHost(env);
    const agent = await connectAgent(env, host.hostId);
    const id = (
      await create('responder', host.hostId, {
        action: 'file_fetch',
        parameters: { path: '/var/log/big.log' },
      })
    ).body.task.task_id;
    await agent.claim();
    await agent.respond(id, { sequence: 1 });
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    for (const [i, data] of chunks.entries())
      await agent.respond(id, { sequence: i + 2, output: [{ stream: 'file', data }] });
    await agent.respond(id, { sequence: 42, status: 'SUCCEEDED', isFinal: true });
    const url = `${fanout.url}/api/tasks/${id}/output?download=1`;
    const headers = { authorization: `Bearer ${tokens.viewer}` };

    // A reader that stops after the first bytes and hangs up.
    const controller = new AbortController();
    const partial = await fetch(url, { headers, signal: controller.signal });
    await partial.body!.getReader().read();
    controller.abort();

    const res = await fetchDocumented(url, { headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="big.log"');
    const got = Buffer.from(await res.arrayBuffer());
    expect(got.length).toBe(40 * 64 * 1024);
    expect(got.equals(Buffer.concat(chunks))).toBe(true);
  });
});
