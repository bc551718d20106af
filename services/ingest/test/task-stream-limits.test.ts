// What one agent's task stream may cost the server (task-stream-budget.ts), against agents
// played by hand over real streams to a real ingest and PostgreSQL: a flood of 1-byte chunks
// ends that stream RESOURCE_EXHAUSTED, chunks past the per-task cap are dropped, and another
// host's task runs to the end meanwhile; an operator past their WatchTask bound is refused
// RESOURCE_EXHAUSTED while another operator's watch runs to the end.
import { status } from '@grpc/grpc-js';
import { getTask } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import { type RunningIngest, startIngest, useEnvironment } from './ingest-harness.js';
import {
  hostWithBareAgent,
  type ResponseCalls,
  responseCalls,
  shellTask,
  until,
  watchTask,
} from './task-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let admin: ResponseCalls;
const cleanups: Array<() => unknown> = [];

const RATE = 50;
const MAX_CHUNKS = 20;
const WATCHES = 3;

beforeAll(async () => {
  ingest = await startIngest(env, {
    OPERATOR_JWT_SECRET,
    TASKS_PER_HOST_PER_MINUTE: '1000',
    TASKS_PER_OPERATOR_PER_MINUTE: '1000',
    TASK_STREAM_SMALL_RESPONSES_PER_S: String(RATE),
    TASK_MAX_CHUNKS_PER_TASK: String(MAX_CHUNKS),
    TASK_WATCHES_PER_OPERATOR: String(WATCHES),
  });
  admin = responseCalls(ingest.address, await operatorAuth.issue('alice', 'admin'));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  admin.close();
  await ingest.stop();
});

const hostWithAgent = () => hostWithBareAgent(env, cleanups, ingest.address);
const limitHits = async (limit: string) =>
  Number(
    new RegExp(`tripwire_ingest_limits_hit_total\\{limit="${limit}"\\} (\\d+)`).exec(
      await (await fetch(`${ingest.httpUrl}/metrics`)).text(),
    )?.[1] ?? 0,
  );
const chunkRows = async (taskId: string) =>
  (await env.pool.query('SELECT 1 FROM task_output WHERE task_id = $1', [taskId])).rows.length;

describe('the task stream write budget', () => {
  it('ends a stream flooding 1-byte chunks RESOURCE_EXHAUSTED; another host’s task succeeds', async () => {
    const flooder = await hostWithAgent();
    const normal = await hostWithAgent();
    const flood = await admin.create(shellTask(flooder.hostId, 'yes'));
    const task = await admin.create(shellTask(normal.hostId, 'echo ok'));
    await until(() => flooder.agent.tasks().includes(flood.taskId));
    await until(() => normal.agent.tasks().includes(task.taskId));
    for (let seq = 1; seq <= 5_000; seq++) flooder.agent.stdout(flood.taskId, seq, 'y');
    normal.agent.stdout(task.taskId, 1, 'ok\n');
    normal.agent.finish(task.taskId, 2);
    await until(() => flooder.agent.ended !== null, 20_000, 'the flooding stream ended');
    expect(flooder.agent.ended!.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(flooder.agent.ended!.details).toMatch(/TASK_STREAM_SMALL_RESPONSES_PER_S/);
    expect(await limitHits('task_stream_rate')).toBeGreaterThanOrEqual(1);
    await until(() => normal.agent.acks.includes(task.taskId), 20_000, 'the normal outcome');
    expect((await getTask(env.pool, task.taskId))!).toMatchObject({ state: 'SUCCEEDED' });
    expect(normal.agent.ended).toBeNull();
  });

  it('stores at most TASK_MAX_CHUNKS_PER_TASK small chunks of a task, then still its outcome', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'cat big'));
    await until(() => agent.tasks().includes(task.taskId));
    // 30 one-byte chunks (under the stream's rate of 50 a second), then 30 of 5,000 bytes,
    // which the cap never counts (a big file_fetch is not cut).
    for (let seq = 1; seq <= MAX_CHUNKS + 10; seq++) agent.stdout(task.taskId, seq, 'y');
    const large = 'x'.repeat(4_999).concat('\n');
    for (let seq = MAX_CHUNKS + 11; seq <= MAX_CHUNKS + 40; seq++)
      agent.stdout(task.taskId, seq, large);
    agent.finish(task.taskId, MAX_CHUNKS + 41);
    await until(() => agent.acks.includes(task.taskId), 20_000, 'the outcome');
    expect(await chunkRows(task.taskId)).toBe(MAX_CHUNKS + 30);
    expect((await getTask(env.pool, task.taskId))!.state).toBe('SUCCEEDED');
    expect(await limitHits('task_chunks')).toBeGreaterThanOrEqual(10);
    expect(agent.ended).toBeNull();
  });
});

describe('WatchTask bounds', () => {
  it('refuses an operator past TASK_WATCHES_PER_OPERATOR; another operator watches to the end', async () => {
    const busy = await hostWithAgent();
    const other = await hostWithAgent();
    const waiting = await admin.create(shellTask(busy.hostId, 'sleep 600'));
    const task = await admin.create(shellTask(other.hostId, 'echo ok'));
    await until(() => other.agent.tasks().includes(task.taskId));
    const malloryToken = await operatorAuth.issue('mallory', 'viewer');
    const mallory = responseCalls(ingest.address, malloryToken);
    cleanups.push(() => mallory.close());
    const held = Array.from({ length: WATCHES }, () =>
      watchTask(mallory, malloryToken, waiting.taskId),
    );
    await until(() => held.every((w) => w.tasks.length > 0), 10_000, 'the watches open');
    const refused = await (async () => {
      const w = watchTask(mallory, malloryToken, waiting.taskId);
      await until(() => w.ended !== null, 10_000, 'the extra watch answered');
      return w.ended!;
    })();
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(
      /mallory already has 3 WatchTask calls open.*TASK_WATCHES_PER_OPERATOR/,
    );
    expect(await limitHits('task_watchers')).toBeGreaterThanOrEqual(1);
    // Alice's watch of another host's task runs to its end meanwhile.
    const aliceToken = await operatorAuth.issue('alice', 'admin');
    const watch = watchTask(admin, aliceToken, task.taskId);
    other.agent.stdout(task.taskId, 1, 'ok\n');
    other.agent.finish(task.taskId, 2);
    await until(() => watch.ended !== null, 20_000, 'the watch ended');
    expect(watch.ended!.code).toBe(status.OK);
    expect(watch.text('stdout')).toBe('ok\n');
    // Ending one of mallory's watches gives the slot back.
    held[0]!.cancel();
    await until(
      async () => {
        const w = watchTask(mallory, malloryToken, waiting.taskId);
        await until(() => w.tasks.length > 0 || w.ended !== null, 10_000);
        w.cancel();
        return w.tasks.length > 0;
      },
      10_000,
      'a slot given back',
    );
    for (const w of held) w.cancel();
  });
});
