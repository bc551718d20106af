import type { TaskContext, TaskOutcome, TaskRunner } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import { type AgentTaskPolicy, type TaskRequest, TaskStatus } from '@tripwire/proto';
import { actionOf } from './action-names.js';
import { fileFetch } from './actions/file-fetch.js';
import { fileHash } from './actions/file-hash.js';
import { killProcess } from './actions/kill-process.js';
import { networkConnections } from './actions/network-connections.js';
import { processList } from './actions/process-list.js';
import { quarantineFile, restoreFile } from './actions/quarantine.js';
import { shellExecute } from './actions/shell-execute.js';
import { PathPolicy } from './path-policy.js';
import { QuarantineManifest } from './quarantine-manifest.js';
import { checkPath, TaskRefusal } from './task-inputs.js';
import type { TaskPolicy } from './task-policy.js';

export interface TaskExecutorDeps {
  policy: TaskPolicy;
  /** The agent's state folder: the quarantine lives in it, shell tasks start in it by default. */
  stateDir: string;
  log: Logger;
  /** Default /proc (tests may point elsewhere). */
  procRoot?: string;
  /** Files besides the state folder that file_fetch never reads (enrollment token, TLS key). */
  secretFiles?: readonly string[];
  /** Where file actions may touch files; absent: nowhere (path-policy.ts). */
  paths?: PathPolicy;
}

/**
 * The agent's TaskRunner: asks the policy, then runs the one action the request names. A
 * TaskRefusal (policy, or a safety check on the parameters) ends the task REFUSED with nothing
 * done; any other error ends it FAILED with the error's message.
 */
export class TaskExecutor implements TaskRunner {
  private readonly quarantine: QuarantineManifest;
  private readonly procRoot: string;
  private readonly paths: PathPolicy;

  constructor(private readonly deps: TaskExecutorDeps) {
    this.quarantine = new QuarantineManifest(`${deps.stateDir}/quarantine`);
    this.procRoot = deps.procRoot ?? '/proc';
    this.paths = deps.paths ?? new PathPolicy(null, [deps.stateDir, ...(deps.secretFiles ?? [])]);
  }

  /** The path allow-list and hard deny, before a file action opens anything. */
  private allowPath(path: string): void {
    this.paths.check(checkPath('path', path));
  }

  policy(): AgentTaskPolicy {
    return this.deps.policy.report();
  }

  onPolicyChange(listener: () => void): () => void {
    return this.deps.policy.onChange(listener);
  }

  refusal(request: TaskRequest): string | null {
    return this.deps.policy.refusal(actionOf(request));
  }

  async run(request: TaskRequest, ctx: TaskContext): Promise<TaskOutcome> {
    const action = actionOf(request);
    // Asked again: the kill switch may have appeared since.
    const refusal = this.deps.policy.refusal(action);
    if (refusal) return { status: TaskStatus.TASK_STATUS_REFUSED, error: refusal };
    this.deps.log.info({ taskId: request.taskId, action }, 'running task');
    try {
      return await this.dispatch(request, ctx);
    } catch (err) {
      const refused = err instanceof TaskRefusal;
      return {
        status: refused ? TaskStatus.TASK_STATUS_REFUSED : TaskStatus.TASK_STATUS_FAILED,
        error: (err as Error).message,
      };
    }
  }

  private dispatch(request: TaskRequest, ctx: TaskContext): Promise<TaskOutcome> {
    const task = request.task;
    const { policy, stateDir } = this.deps;
    const quarantine = {
      manifest: this.quarantine,
      stateDir,
      allowPath: (path: string) => this.allowPath(path),
    };
    switch (task?.$case) {
      case 'processList':
        return processList(ctx, this.procRoot);
      case 'networkConnections':
        return networkConnections(ctx, this.procRoot);
      case 'fileHash':
        this.allowPath(task.fileHash.path);
        return fileHash(task.fileHash, ctx);
      case 'fileFetch':
        this.allowPath(task.fileFetch.path);
        return fileFetch(task.fileFetch, ctx, policy.settings.maxFetchBytes, {
          stateDir,
          files: this.deps.secretFiles ?? [],
        });
      case 'killProcess':
        return killProcess(task.killProcess, ctx, this.procRoot);
      case 'quarantineFile':
        this.allowPath(task.quarantineFile.path);
        return quarantineFile(task.quarantineFile, ctx.signal, quarantine);
      case 'restoreFile':
        return restoreFile(task.restoreFile, quarantine);
      case 'shellExecute':
        return shellExecute(task.shellExecute, ctx, { policy, defaultWorkDir: stateDir });
      default:
        throw new TaskRefusal('this agent does not know that action');
    }
  }
}
