import type { TaskEventData } from '@tripwire/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  Browser,
  callApi,
  passMarker,
  publishMessages,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { connectAgent, newHost, text } from './task-agent-side.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;
let admin: string;

beforeAll(async () => {
  fanout = await startFanout(env);
  viewer = await auth.issue('vic', 'viewer');
  admin = await auth.issue('alice', 'admin');
});
afterAll(async () => {
  await fanout?.stop();
});

type TaskFrame = { type: 'task'; position: string; data: TaskEventData };
const tasksOf = (b: Browser) => b.ofType('task') as unknown as TaskFrame[];
/** What a frame says, in a line: the event, the state, and the chunk's text if any. */
const summary = (f: TaskFrame) =>
  [f.data.event, f.data.task.state, f.data.output?.text ?? ''].join(' ').trim();

async function connect(query: Record<string, string> = {}) {
  const b = new Browser(fanout.wsUrl, { token: viewer, query });
  await b.opened;
  await until(() => b.ofType('welcome').length === 1);
  return b;
}

async function createTask(hostId: string, action = 'shell_execute', parameters = { cmd: 'id' }) {
  const res = await callApi(fanout.url, `/api/hosts/${hostId}/tasks`, {
    token: admin,
    method: 'POST',
    body: { action, parameters },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.task.task_id as string;
}

describe('task frames on /ws/alerts', () => {
  it('streams a task state by state and chunk by chunk to the sockets whose filters let its host through', async () => {
    const [mine, other] = [await newHost(env), await newHost(env)];
    const agent = await connectAgent(env, mine.hostId);
    const watcher = await connect({ kind: 'task', host_id: mine.hostId });
    const alertsOnly = await connect({ kind: 'alert' });
    const critical = await connect({ severity: 'CRITICAL' });
    const everything = await connect();

    const id = await createTask(mine.hostId);
    await createTask(other.hostId);
    await agent.claim();
    await agent.respond(id, { sequence: 1 });
    await agent.respond(id, { sequence: 2, output: [text('stdout', 'uid=0(root)\n')] });
    await agent.respond(id, { sequence: 3, output: [text('stderr', 'warning\n')] });
    await agent.respond(id, { sequence: 4, status: 'SUCCEEDED', isFinal: true, exitCode: 0 });
    await until(() => tasksOf(watcher).length >= 6, 5_000, 'six task frames');
    // Everything before this marker has been dealt with by the fan-out.
    await passMarker(env, everything);
    await passMarker(env, critical);
    await passMarker(env, alertsOnly);

    expect(tasksOf(watcher).map(summary)).toEqual([
      'created QUEUED',
      'updated DISPATCHED',
      'updated RUNNING',
      'output RUNNING uid=0(root)',
      'output RUNNING warning',
      'finished SUCCEEDED',
    ]);
    expect(tasksOf(watcher).every((f) => f.data.task.task_id === id)).toBe(true);
    expect(tasksOf(watcher).at(-1)!.data.task.exit_code).toBe(0);
    // A task has no severity or type: filters naming them let none through, nor kind=alert.
    expect(tasksOf(alertsOnly)).toEqual([]);
    expect(tasksOf(critical)).toEqual([]);
    // Unfiltered: both hosts' tasks.
    expect(tasksOf(everything).filter((f) => f.data.event === 'created')).toHaveLength(2);
    for (const b of [watcher, alertsOnly, critical, everything]) b.close();
  });

  it('sends a change or a chunk published twice once', async () => {
    const host = await newHost(env);
    const agent = await connectAgent(env, host.hostId);
    // Alerts too, so that a marker alert of this host can show the fan-out has caught up.
    const b = await connect({ kind: 'task,alert', host_id: host.hostId });
    const id = await createTask(host.hostId);
    await agent.claim();
    await agent.respond(id, { sequence: 1 });
    await agent.respond(id, { sequence: 2, output: [text('stdout', 'a'), text('stderr', 'b')] });
    await until(() => tasksOf(b).length >= 5, 5_000, 'five frames');
    // A publisher retrying (or two ingest instances): every message of this task again.
    publishMessages(
      env,
      tasksOf(b).map((f) => ({ type: 'task' as const, data: f.data })),
    );
    await agent.respond(id, { sequence: 3, status: 'SUCCEEDED', isFinal: true });
    await until(() => tasksOf(b).some((f) => f.data.event === 'finished'), 5_000, 'finished');
    await passMarker(env, b, { host_id: host.hostId });
    expect(tasksOf(b).map(summary)).toEqual([
      'created QUEUED',
      'updated DISPATCHED',
      'updated RUNNING',
      // stdout and stderr of one response share the task's version: both are sent.
      'output RUNNING a',
      'output RUNNING b',
      'finished SUCCEEDED',
    ]);
    b.close();
  });

  it('replays what a socket missed on resume, once, then goes on live', async () => {
    const host = await newHost(env);
    const agent = await connectAgent(env, host.hostId);
    const witness = await connect();
    const first = await connect({ kind: 'task', host_id: host.hostId });
    const id = await createTask(host.hostId);
    await agent.claim();
    await agent.respond(id, { sequence: 1 });
    await agent.respond(id, { sequence: 2, output: [text('stdout', 'one ')] });
    await until(() => tasksOf(first).length === 4, 5_000, 'four frames');
    const lastSeen = tasksOf(first).at(-1)!.position;
    first.ws.terminate();
    await first.closed;

    // Missed while away: two chunks, one of them published twice.
    await agent.respond(id, { sequence: 3, output: [text('stdout', 'two ')] });
    const third = await agent.respond(id, { sequence: 4, output: [text('stdout', 'three ')] });
    publishMessages(env, [
      { type: 'task', data: { event: 'output', task: third.task!, output: third.outputs[0]! } },
    ]);
    await passMarker(env, witness);

    const second = await connect({ kind: 'task,alert', host_id: host.hostId, since: lastSeen });
    await until(() => tasksOf(second).length >= 2, 5_000, 'the replay');
    expect(second.ofType('welcome')[0]!.resume).toMatchObject({ status: 'replayed', count: 2 });
    await agent.respond(id, { sequence: 5, status: 'SUCCEEDED', isFinal: true });
    await until(() => tasksOf(second).length >= 3, 5_000, 'the live frame');
    await passMarker(env, second, { host_id: host.hostId });
    expect(tasksOf(second).map(summary)).toEqual([
      'output RUNNING two',
      'output RUNNING three',
      'finished SUCCEEDED',
    ]);
    const positions = [lastSeen, ...tasksOf(second).map((f) => f.position)];
    expect(new Set(positions).size).toBe(4);
    second.close();
    witness.close();
  });

  it('refuses an unknown kind by name', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer, query: { kind: 'tasks' } });
    await expect(b.opened).rejects.toThrow();
    expect(b.unexpectedResponse?.status).toBe(400);
    expect(b.unexpectedResponse?.body).toContain('alert, incident, task');
  });
});
