import { join, resolve } from 'node:path';
import type { Logger } from '@tripwire/logger';
import type { AgentConfig } from '../agent-config.js';
import { PathPolicy, readPathAllowFile } from './path-policy.js';
import { readShellAllowFile } from './shell-allow-file.js';
import { TaskExecutor } from './task-executor.js';
import { TaskPolicy } from './task-policy.js';

export const DEFAULT_KILL_SWITCH_FILE = 'tasks.disabled';

/** The agent's task runner and the policy behind it, from its configuration. */
export async function createAgentTasks(
  config: AgentConfig,
  log: Logger,
): Promise<{ executor: TaskExecutor; policy: TaskPolicy }> {
  const stateDir = resolve(config.TRIPWIRE_STATE_DIR);
  const allowFile = config.TRIPWIRE_TASK_SHELL_ALLOW_FILE;
  const policy = new TaskPolicy(
    {
      enabledActions: config.TRIPWIRE_TASK_ACTIONS,
      shellAllowPatterns: allowFile ? await readShellAllowFile(allowFile) : [],
      shellUnrestricted: config.TRIPWIRE_TASK_SHELL_UNRESTRICTED,
      killSwitchFile: config.TRIPWIRE_TASK_KILL_SWITCH ?? join(stateDir, DEFAULT_KILL_SWITCH_FILE),
      defaultTimeoutS: config.TRIPWIRE_TASK_TIMEOUT_S,
      maxTimeoutS: config.TRIPWIRE_TASK_MAX_TIMEOUT_S,
      maxOutputBytes: config.TRIPWIRE_TASK_OUTPUT_MAX_BYTES,
      maxFetchBytes: config.TRIPWIRE_TASK_FETCH_MAX_BYTES,
      maxConcurrent: config.TRIPWIRE_TASK_MAX_CONCURRENT,
    },
    log,
  );
  const secretFiles = [config.TRIPWIRE_ENROLL_TOKEN_FILE, config.TRIPWIRE_TLS_KEY]
    .filter((f): f is string => typeof f === 'string' && f !== '')
    .map((f) => resolve(f));
  const pathFile = config.TRIPWIRE_TASK_PATH_ALLOW_FILE;
  const paths = new PathPolicy(pathFile ? await readPathAllowFile(pathFile) : null, [
    stateDir,
    ...secretFiles,
  ]);
  const report = policy.report();
  log.info(
    {
      actions: report.enabledActions,
      shell: report.enabledActions.includes('shell_execute')
        ? report.shellRestricted
          ? `restricted (${report.shellAllowPatterns.length} patterns)`
          : 'UNRESTRICTED'
        : 'off',
      killSwitch: report.killSwitch,
      paths: paths.describe(),
    },
    'response actions policy',
  );
  return { executor: new TaskExecutor({ policy, stateDir, log, secretFiles, paths }), policy };
}
