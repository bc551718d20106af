import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TaskResponse, TaskStatus } from '@tripwire/proto';
import { describe, expect, it } from 'vitest';
import { AGENT_RESTARTED, JOURNAL_MAX_TASKS, TaskJournal } from '../src/task-journal.js';

const journalPath = () => join(mkdtempSync(join(tmpdir(), 'task-journal-')), 'tasks.json');

function outcome(taskId: string, stdout = ''): TaskResponse {
  return {
    taskId,
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    isFinal: true,
    cancelled: false,
    error: '',
    sequence: 3,
    truncated: false,
    response: {
      $case: 'shellExecute',
      shellExecute: { stdout, stderr: '', exitCode: 0, signal: '' },
    },
  };
}

async function reopen(path: string): Promise<TaskJournal> {
  const journal = new TaskJournal(path);
  await journal.load();
  return journal;
}

describe('the task journal', () => {
  it('ends a task that was running when the agent stopped FAILED, and keeps a finished outcome', async () => {
    const path = journalPath();
    const journal = await reopen(path);
    await journal.begin('running-1');
    await journal.begin('done-1');
    await journal.finish('done-1', outcome('done-1', 'out'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const after = await reopen(path);
    expect(after.state('running-1')).toBe('finished');
    expect(after.outcome('running-1')).toMatchObject({
      status: TaskStatus.TASK_STATUS_FAILED,
      isFinal: true,
      error: AGENT_RESTARTED,
    });
    expect(after.outcome('done-1')).toEqual(outcome('done-1', 'out'));
    expect(after.unacknowledged().map((r) => r.taskId)).toEqual(['running-1', 'done-1']);
  });

  it('forgets an acknowledged outcome but remembers the id, across restarts', async () => {
    const path = journalPath();
    const journal = await reopen(path);
    await journal.begin('a');
    await journal.finish('a', outcome('a'));
    await journal.acknowledge(['a', 'unknown']);
    const after = await reopen(path);
    expect(after.state('a')).toBe('acked');
    expect(after.outcome('a')).toBeUndefined();
    expect(after.unacknowledged()).toEqual([]);
  });

  it('keeps a huge outcome without its payload, and stays bounded in ids', async () => {
    const path = journalPath();
    const journal = await reopen(path);
    await journal.finish('big', outcome('big', 'x'.repeat(300 * 1024)));
    expect(journal.outcome('big')).toMatchObject({
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      response: undefined,
    });
    for (let i = 0; i < JOURNAL_MAX_TASKS + 10; i++) {
      void journal.begin(`t-${i}`);
      void journal.finish(`t-${i}`, outcome(`t-${i}`));
    }
    await journal.acknowledge(Array.from({ length: 50 }, (_, i) => `t-${i}`));
    await journal.begin('last');
    await journal.settled();
    const after = await reopen(path);
    // The oldest acknowledged ids went first; the unacknowledged outcomes are all still there.
    expect(after.state('t-0')).toBeUndefined();
    expect(after.state('t-2000')).toBe('finished');
    expect(after.state('last')).toBe('finished');
    expect(after.unacknowledged().length).toBeLessThanOrEqual(JOURNAL_MAX_TASKS);
  });

  it('stays bounded when a server floods it with tasks that never start (refused, cancelled unseen)', async () => {
    const path = journalPath();
    const journal = await reopen(path);
    // Refusals and cancels of unknown ids are journaled by finish() alone, never begin().
    for (let i = 0; i < JOURNAL_MAX_TASKS * 2; i++)
      void journal.finish(`refused-${i}`, outcome(`refused-${i}`));
    await journal.settled();
    const { tasks } = JSON.parse(readFileSync(path, 'utf8')) as { tasks: unknown[] };
    expect(tasks.length).toBeLessThanOrEqual(JOURNAL_MAX_TASKS);
    expect(journal.unacknowledged().length).toBeLessThanOrEqual(JOURNAL_MAX_TASKS);
    expect(journal.state(`refused-${JOURNAL_MAX_TASKS * 2 - 1}`)).toBe('finished');
  });

  it('refuses a journal that is not JSON, naming the file', async () => {
    const path = journalPath();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, '{torn');
    await expect(reopen(path)).rejects.toThrow(/tasks.json is not valid JSON/);
  });
});
