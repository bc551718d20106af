import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { type ShellExecute, TaskStatus } from '@tripwire/proto';
import { OutputBudget } from '../output-budget.js';
import { killGroup, spawnInGroup, TERM_GRACE_MS } from '../process-group.js';
import { ShellOutput } from '../shell-output.js';
import { checkPath, checkText, quoted, TaskRefusal } from '../task-inputs.js';
import type { TaskPolicy } from '../task-policy.js';

const MAX_CMD_BYTES = 16 * 1024;
const MAX_ARGS = 256;
const MAX_ENV = 64;
const ENV_ENTRY = /^[A-Za-z_][A-Za-z0-9_]*=/;
/** The agent's own environment (its enrollment token among it) never reaches a task. */
const BASE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};

export interface ShellDeps {
  policy: TaskPolicy;
  /** working_dir when the request gives none. */
  defaultWorkDir: string;
}

interface Command {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * Restricted (an allow-list): never through a shell, so `;`, `|` and `$(…)` are plain
 * characters; argv joined by spaces must match a pattern whole; no environment (LD_PRELOAD or
 * PATH would change what an allowed command runs) and no working_dir from the request. Unrestricted: args given →
 * exec'd as given, none → `/bin/sh -c cmd`.
 */
export function shellCommand(params: ShellExecute, deps: ShellDeps): Command {
  checkText('cmd', params.cmd, MAX_CMD_BYTES);
  if (!params.cmd.trim()) throw new TaskRefusal('cmd is empty');
  if (params.args.length > MAX_ARGS) throw new TaskRefusal(`at most ${MAX_ARGS} args`);
  for (const arg of params.args) checkText('an arg', arg, MAX_CMD_BYTES);
  if (params.env.length > MAX_ENV) throw new TaskRefusal(`at most ${MAX_ENV} env entries`);
  const env: Record<string, string> = { ...BASE_ENV, HOME: deps.defaultWorkDir };
  for (const entry of params.env) {
    checkText('an env entry', entry, MAX_CMD_BYTES);
    if (!ENV_ENTRY.test(entry))
      throw new TaskRefusal(`env entry ${quoted(entry)} is not NAME=value`);
    const eq = entry.indexOf('=');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const cwd = params.workingDir ? checkPath('working_dir', params.workingDir) : deps.defaultWorkDir;
  if (!deps.policy.shellRestricted) {
    if (params.args.length > 0) return { file: params.cmd, args: [...params.args], env, cwd };
    return { file: '/bin/sh', args: ['-c', params.cmd], env, cwd };
  }
  return restrictedCommand(params, deps);
}

/** An allow-listed command line, exec'd as the argv the pattern matched. */
function restrictedCommand(params: ShellExecute, deps: ShellDeps): Command {
  if (params.env.length > 0)
    throw new TaskRefusal('env is not allowed for a restricted shell (it could change what runs)');
  // A relative program or file (`sh check.sh`, `python3 manage.py …`) would be whatever the
  // folder holds: the allow-list names commands, not folders, so they run where the agent says.
  if (params.workingDir)
    throw new TaskRefusal(
      'working_dir is not allowed for a restricted shell (an allowed command could find other files there)',
    );
  // The pattern sees argv joined by spaces: an element holding whitespace would let one
  // matched line run as other arguments than the ones it reads as.
  const given = [params.cmd, ...params.args];
  if (params.args.length > 0 && given.some((a) => a === '' || /\s/.test(a)))
    throw new TaskRefusal(
      'for a restricted shell, cmd and each arg must be one non-empty word (no whitespace)',
    );
  const argv = params.args.length > 0 ? given : params.cmd.split(/\s+/).filter(Boolean);
  const commandLine = argv.join(' ');
  if (!deps.policy.shellAllows(commandLine))
    throw new TaskRefusal(
      `command ${quoted(commandLine)} matches none of the shell allow patterns`,
    );
  return {
    file: argv[0]!,
    args: argv.slice(1),
    env: { ...BASE_ENV, HOME: deps.defaultWorkDir },
    cwd: deps.defaultWorkDir,
  };
}

/** Runs the command in a process group of its own, streaming its output; the group dies with the task. */
export async function shellExecute(
  params: ShellExecute,
  ctx: TaskContext,
  deps: ShellDeps,
): Promise<TaskOutcome> {
  const command = shellCommand(params, deps);
  const budget = new OutputBudget(ctx.maxOutputBytes);
  const output = new ShellOutput(budget, ctx.emit);
  const child = spawnInGroup(command.file, command.args, { cwd: command.cwd, env: command.env });
  const pgid = child.pid;
  child.stdout?.on('data', (chunk: Buffer) => output.push('stdout', chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push('stderr', chunk));
  const onAbort = () => {
    if (pgid) void killGroup(pgid);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    // The leader is gone; whatever it left behind in its group goes too, and with it the pipes.
    if (pgid) await killGroup(pgid);
    await streamsClosed(child);
    output.end();
    return {
      status: exit.code === 0 ? TaskStatus.TASK_STATUS_SUCCEEDED : TaskStatus.TASK_STATUS_FAILED,
      error:
        exit.code === 0 ? '' : exit.signal ? `ended by ${exit.signal}` : `exit code ${exit.code}`,
      truncated: budget.truncated,
      response: {
        $case: 'shellExecute',
        shellExecute: {
          stdout: '',
          stderr: '',
          exitCode: exit.code ?? -1,
          signal: exit.signal ?? '',
        },
      },
    };
  } catch (err) {
    output.end();
    return {
      status: TaskStatus.TASK_STATUS_FAILED,
      error: `cannot run ${quoted(command.file)}: ${(err as Error).message}`,
    };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** stdout/stderr closed, or given up on after a grace (a process that left the group holds them). */
function streamsClosed(child: ReturnType<typeof spawnInGroup>): Promise<void> {
  const closed = (s: NodeJS.ReadableStream | null) =>
    new Promise<void>((resolve) => {
      if (!s || (s as { closed?: boolean }).closed) resolve();
      else s.once('close', () => resolve());
    });
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.all([closed(child.stdout), closed(child.stderr)]).then(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve();
      }, TERM_GRACE_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}
