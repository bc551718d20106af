// The SDK's own cap on the chunks one task sends: a runner emitting byte by byte (a bug, or a
// plugin nobody reviewed) is cut at MAX_CHUNKS_PER_TASK before it costs the network and the
// server's rows; the outcome still arrives, marked truncated. Real journal file.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@tripwire/logger';
import { type AgentTaskPolicy, type TaskResponse, TaskStatus } from '@tripwire/proto';
import { until } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import { MAX_CHUNKS_PER_TASK, TaskDispatcher } from '../src/task-dispatcher.js';
import { TaskJournal } from '../src/task-journal.js';
import type { TaskRunner } from '../src/task-runner.js';

const POLICY: AgentTaskPolicy = {
  enabledActions: ['shell_execute'],
  shellRestricted: false,
  shellAllowPatterns: [],
  killSwitch: false,
  maxTimeoutSeconds: 60,
  defaultTimeoutSeconds: 60,
  maxOutputBytes: 1024 * 1024,
  maxFetchBytes: 1024 * 1024,
  maxConcurrentTasks: 2,
};

/** Emits `count` stdout chunks of `text` (one byte by default), then succeeds. */
const bytewiseRunner = (count: number, text = 'y'): TaskRunner => ({
  policy: () => POLICY,
  async run(_request, ctx) {
    for (let i = 0; i < count; i++)
      ctx.emit({
        $case: 'shellExecute',
        shellExecute: { stdout: text, stderr: '', exitCode: 0, signal: '' },
      });
    return { status: TaskStatus.TASK_STATUS_SUCCEEDED };
  },
});

async function runOne(count: number, text?: string) {
  const journal = new TaskJournal(join(mkdtempSync(join(tmpdir(), 'task-chunks-')), 'tasks.json'));
  await journal.load();
  const sent: TaskResponse[] = [];
  const dispatcher = new TaskDispatcher({
    runner: bytewiseRunner(count, text),
    journal,
    log: createLogger({ name: 'chunks-test', level: 'silent' }),
    send: (r) => sent.push(r) > 0,
  });
  dispatcher.handle({
    taskId: 'bytewise',
    timeoutSeconds: 0,
    maxOutputBytes: 0,
    task: {
      $case: 'shellExecute',
      shellExecute: { cmd: 'yes', args: [], env: [], workingDir: '' },
    },
  });
  await until(() => sent.some((r) => r.isFinal), 10_000, 'the outcome');
  return { sent, dispatcher, final: sent.find((r) => r.isFinal)! };
}

describe('the chunk cap per task', () => {
  it('sends at most MAX_CHUNKS_PER_TASK chunks, then the outcome marked truncated', async () => {
    const { sent, dispatcher, final } = await runOne(MAX_CHUNKS_PER_TASK * 3);
    const chunks = sent.filter((r) => !r.isFinal && r.response !== undefined);
    expect(chunks).toHaveLength(MAX_CHUNKS_PER_TASK);
    expect(final).toMatchObject({ status: TaskStatus.TASK_STATUS_SUCCEEDED, truncated: true });
    expect(dispatcher.stats.overChunks).toBe(MAX_CHUNKS_PER_TASK * 2);
  });

  it('never cuts large chunks (a big file_fetch): the byte caps bound those', async () => {
    const { sent, final } = await runOne(MAX_CHUNKS_PER_TASK + 100, 'x'.repeat(5_000));
    expect(sent.filter((r) => !r.isFinal && r.response !== undefined)).toHaveLength(
      MAX_CHUNKS_PER_TASK + 100,
    );
    expect(final.truncated).toBe(false);
  });

  it('leaves a task under the cap untouched', async () => {
    const { sent, final } = await runOne(10);
    expect(sent.filter((r) => !r.isFinal && r.response !== undefined)).toHaveLength(10);
    expect(final.truncated).toBe(false);
  });
});
