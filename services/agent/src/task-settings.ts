// The response-action settings of `tripwire-agent run` (docs/response-actions.md). Everything
// is off by default: an agent runs no task until its own configuration names the action.
import { envBool, envInt } from '@tripwire/config';
import { z } from 'zod';
import type { Setting } from './agent-config.js';
import { ACTION_NAMES, type ActionName } from './tasks/action-names.js';

export const TASK_SETTINGS: Setting[] = [
  {
    flag: 'task-actions',
    env: 'TRIPWIRE_TASK_ACTIONS',
    help: `response actions this agent runs, comma-separated: ${ACTION_NAMES.join(', ')} (default: none)`,
  },
  {
    flag: 'task-shell-allow-file',
    env: 'TRIPWIRE_TASK_SHELL_ALLOW_FILE',
    help: 'RE2 patterns, one a line (# comments), each matching a whole command line shell_execute may run; required for shell_execute unless --task-shell-unrestricted',
  },
  {
    flag: 'task-path-allow-file',
    env: 'TRIPWIRE_TASK_PATH_ALLOW_FILE',
    help: 'absolute paths, one a line (# comments): the folders and files file_hash, file_fetch, quarantine_file and restore_file may touch; without it they touch none',
  },
  {
    flag: 'task-shell-unrestricted',
    env: 'TRIPWIRE_TASK_SHELL_UNRESTRICTED',
    help: 'shell_execute runs any command, through /bin/sh (dangerous: whoever can create tasks owns this host)',
    boolean: true,
  },
  {
    flag: 'task-kill-switch',
    env: 'TRIPWIRE_TASK_KILL_SWITCH',
    help: 'while this file exists every task is refused (default STATE_DIR/tasks.disabled)',
  },
  {
    flag: 'task-timeout',
    env: 'TRIPWIRE_TASK_TIMEOUT_S',
    help: 'seconds a task runs when its request names no timeout (default 60)',
  },
  {
    flag: 'task-max-timeout',
    env: 'TRIPWIRE_TASK_MAX_TIMEOUT_S',
    help: 'longest timeout a request may ask for, in seconds (default 3600)',
  },
  {
    flag: 'task-output-max-bytes',
    env: 'TRIPWIRE_TASK_OUTPUT_MAX_BYTES',
    help: 'output a task may send (stdout + stderr, or a listing); the rest is dropped, marked truncated (default 1048576)',
  },
  {
    flag: 'task-fetch-max-bytes',
    env: 'TRIPWIRE_TASK_FETCH_MAX_BYTES',
    help: 'bytes of a file file_fetch sends at most (default 10485760)',
  },
  {
    flag: 'task-max-concurrent',
    env: 'TRIPWIRE_TASK_MAX_CONCURRENT',
    help: 'tasks running at once; more are refused (default 2)',
  },
];

const actionList = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const names = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = names.filter((n) => !(ACTION_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `unknown action ${unknown.join(', ')}; known: ${ACTION_NAMES.join(', ')}`,
      });
    return [...new Set(names)] as ActionName[];
  });

export const taskConfigShape = {
  TRIPWIRE_TASK_ACTIONS: actionList,
  TRIPWIRE_TASK_SHELL_ALLOW_FILE: z.string().optional(),
  TRIPWIRE_TASK_PATH_ALLOW_FILE: z.string().optional(),
  TRIPWIRE_TASK_SHELL_UNRESTRICTED: envBool(false),
  TRIPWIRE_TASK_KILL_SWITCH: z.string().optional(),
  TRIPWIRE_TASK_TIMEOUT_S: envInt(60, 1, 86_400),
  TRIPWIRE_TASK_MAX_TIMEOUT_S: envInt(3600, 1, 86_400),
  TRIPWIRE_TASK_OUTPUT_MAX_BYTES: envInt(1024 * 1024, 1024, 64 * 1024 * 1024),
  TRIPWIRE_TASK_FETCH_MAX_BYTES: envInt(10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  TRIPWIRE_TASK_MAX_CONCURRENT: envInt(2, 1, 16),
};

const taskConfig = z.object(taskConfigShape);
export type TaskConfig = z.output<typeof taskConfig>;

/** The settings that only make sense together. */
export function checkTaskConfig(c: TaskConfig, ctx: z.RefinementCtx): void {
  if (c.TRIPWIRE_TASK_TIMEOUT_S > c.TRIPWIRE_TASK_MAX_TIMEOUT_S)
    ctx.addIssue({
      code: 'custom',
      path: ['TRIPWIRE_TASK_TIMEOUT_S'],
      message: 'must not be more than --task-max-timeout',
    });
  const shell = c.TRIPWIRE_TASK_ACTIONS.includes('shell_execute');
  if (shell && !c.TRIPWIRE_TASK_SHELL_UNRESTRICTED && !c.TRIPWIRE_TASK_SHELL_ALLOW_FILE)
    ctx.addIssue({
      code: 'custom',
      path: ['TRIPWIRE_TASK_SHELL_ALLOW_FILE'],
      message:
        'shell_execute needs the commands it may run (an allow file), or --task-shell-unrestricted',
    });
  if (c.TRIPWIRE_TASK_SHELL_ALLOW_FILE && c.TRIPWIRE_TASK_SHELL_UNRESTRICTED)
    ctx.addIssue({
      code: 'custom',
      path: ['TRIPWIRE_TASK_SHELL_UNRESTRICTED'],
      message: 'give either an allow file or --task-shell-unrestricted, not both',
    });
}
