// The agent's task pipeline in this process: the SDK's dispatcher and journal in front of the
// agent's executor and policy, exactly as the task stream drives them, with every response the
// server would receive recorded. Real child processes, real files under a temp folder.
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskDispatcher, TaskJournal } from '@tripwire/agent-sdk';
import { createLogger } from '@tripwire/logger';
import { type TaskRequest, type TaskResponse, TaskStatus } from '@tripwire/proto';
import { until } from '@tripwire/test-fixtures';
import { ACTION_NAMES } from '../../src/tasks/action-names.js';
import { PathPolicy } from '../../src/tasks/path-policy.js';
import { TaskExecutor } from '../../src/tasks/task-executor.js';
import { TaskPolicy, type TaskPolicySettings } from '../../src/tasks/task-policy.js';

export { until };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tripwire-${prefix}-`));
}

export interface TaskBench {
  stateDir: string;
  policy: TaskPolicy;
  dispatcher: TaskDispatcher;
  journal: TaskJournal;
  responses: TaskResponse[];
  /** Sends a request and resolves with its final response. */
  run(request: Partial<TaskRequest> & Pick<TaskRequest, 'task'>): Promise<TaskResponse>;
  of(taskId: string): TaskResponse[];
  final(taskId: string): Promise<TaskResponse>;
}

let nextTask = 0;

export function taskId(): string {
  nextTask++;
  return `t-${process.pid}-${nextTask}`;
}

/**
 * `allowedPaths`: the path allow-list (default `/`, so the file actions' own checks are what is
 * tested; null: no allow file). The state folder is always denied, as in the agent.
 */
export async function taskBench(
  settings: Partial<TaskPolicySettings> = {},
  allowedPaths: readonly string[] | null = ['/'],
): Promise<TaskBench> {
  const stateDir = tempDir('task-state');
  const log = createLogger({ name: 'task-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const policy = new TaskPolicy({
    enabledActions: ACTION_NAMES,
    shellAllowPatterns: [],
    shellUnrestricted: true,
    killSwitchFile: join(stateDir, 'tasks.disabled'),
    defaultTimeoutS: 60,
    maxTimeoutS: 600,
    maxOutputBytes: 1024 * 1024,
    maxFetchBytes: 10 * 1024 * 1024,
    maxConcurrent: 4,
    ...settings,
  });
  const journal = new TaskJournal(join(stateDir, 'tasks.json'));
  await journal.load();
  const responses: TaskResponse[] = [];
  const dispatcher = new TaskDispatcher({
    runner: new TaskExecutor({
      policy,
      stateDir,
      log,
      paths: new PathPolicy(allowedPaths, [stateDir]),
    }),
    journal,
    log,
    send: (r) => {
      responses.push(r);
      return true;
    },
  });
  const of = (id: string) => responses.filter((r) => r.taskId === id);
  const final = async (id: string) => {
    await until(() => of(id).some((r) => r.isFinal), 30_000, `the final response of ${id}`);
    return of(id).find((r) => r.isFinal)!;
  };
  return {
    stateDir,
    policy,
    dispatcher,
    journal,
    responses,
    of,
    final,
    run(request) {
      const id = request.taskId ?? taskId();
      dispatcher.handle({ timeoutSeconds: 0, maxOutputBytes: 0, ...request, taskId: id });
      return final(id);
    },
  };
}

export const statusName = (r: TaskResponse) => TaskStatus[r.status];

/** Concatenated stdout (or stderr) of a shell task's chunks, in sequence order. */
export function shellText(responses: TaskResponse[], stream: 'stdout' | 'stderr'): string {
  return [...responses]
    .sort((a, b) => a.sequence - b.sequence)
    .map((r) => (r.response?.$case === 'shellExecute' ? r.response.shellExecute[stream] : ''))
    .join('');
}

/** A process has ended: no /proc entry, or a zombie waiting for its parent. */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Field 22 of /proc/<pid>/stat. */
export async function startTicksOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

export function shell(
  cmd: string,
  extra: { args?: string[]; env?: string[]; workingDir?: string } = {},
) {
  return {
    task: {
      $case: 'shellExecute' as const,
      shellExecute: {
        cmd,
        args: extra.args ?? [],
        env: extra.env ?? [],
        workingDir: extra.workingDir ?? '',
      },
    },
  };
}
