import { isTaskAction, type TaskAction } from './task.js';
import { utf8ByteLength } from './utf8.js';

// Every action's parameters, checked once here so that gRPC (ingest), REST (fan-out) and
// storage refuse the same things. The agent checks again (it trusts no server): these rules
// are the same or looser, never stricter, so a task the server accepts is one the agent could run.

/** A path the agent takes (docs/response-actions.md "Paths"): its byte limit. */
export const MAX_TASK_PATH_BYTES = 4096;
/** shell_execute's cmd and each of its args. */
export const MAX_SHELL_TEXT_BYTES = 16 * 1024;
export const MAX_SHELL_ARGS = 256;
export const MAX_SHELL_ENV = 64;
/** The JSON of one task's parameters, whole. */
export const MAX_TASK_PARAMETERS_BYTES = 256 * 1024;
/** Linux's pid_max ceiling: a larger pid is never valid. */
export const MAX_PID = 4_194_304;

export type ShellExecuteParameters = {
  cmd: string;
  args?: string[];
  env?: string[];
  working_dir?: string;
};
export type KillProcessParameters = {
  pid: number;
  /** Decimal text: a uint64 (field 22 of /proc/<pid>/stat). */
  start_ticks: string;
  signal?: 'SIGTERM' | 'SIGKILL';
};

/** Parameters by action; `{}` for the listings. */
export interface TaskParametersByAction {
  process_list: Record<string, never>;
  network_connections: Record<string, never>;
  file_hash: { path: string };
  file_fetch: { path: string; max_bytes?: number };
  kill_process: KillProcessParameters;
  quarantine_file: { path: string };
  restore_file: { quarantine_id: string };
  shell_execute: ShellExecuteParameters;
}

/** Parameters refused: `field` names the offending one (`parameters.path`, `action`). */
export class TaskParameterError extends Error {
  override name = 'TaskParameterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Params = Record<string, unknown>;

function text(p: Params, key: string, maxBytes: number, optional = false): string | undefined {
  const value = p[key];
  if (value === undefined && optional) return undefined;
  const field = `parameters.${key}`;
  if (typeof value !== 'string') throw new TaskParameterError(field, 'must be a string');
  if (value.length === 0 && !optional) throw new TaskParameterError(field, 'must not be empty');
  // PostgreSQL's jsonb cannot hold U+0000, and a NUL would cut the value short at a syscall.
  if (value.includes('\0')) throw new TaskParameterError(field, 'must not hold a NUL character');
  const bytes = utf8ByteLength(value);
  if (bytes > maxBytes)
    throw new TaskParameterError(field, `is ${bytes} bytes; at most ${maxBytes}`);
  return value;
}

/**
 * Absolute, bounded, no NUL. Segments such as `..` are left for the agent to refuse (it
 * checks the plain form and symlinks on the host itself); here they are stored as given, inert.
 */
function path(p: Params, key: string, optional = false): string | undefined {
  const value = text(p, key, MAX_TASK_PATH_BYTES, optional);
  if (value !== undefined && !value.startsWith('/'))
    throw new TaskParameterError(`parameters.${key}`, 'must be an absolute path');
  return value;
}

function texts(p: Params, key: string, max: number, maxBytes: number): string[] | undefined {
  const value = p[key];
  if (value === undefined) return undefined;
  const field = `parameters.${key}`;
  if (!Array.isArray(value)) throw new TaskParameterError(field, 'must be a list of strings');
  if (value.length > max)
    throw new TaskParameterError(field, `has ${value.length} items; at most ${max}`);
  return value.map((_, i) => text(value as unknown as Params, String(i), maxBytes) as string);
}

function onlyKeys(p: Params, keys: readonly string[]): void {
  for (const key of Object.keys(p)) {
    if (!keys.includes(key))
      throw new TaskParameterError(
        `parameters.${key}`,
        `is not a parameter of this action (${keys.join(', ') || 'none'})`,
      );
  }
}

function shellExecute(p: Params): ShellExecuteParameters {
  onlyKeys(p, ['cmd', 'args', 'env', 'working_dir']);
  const cmd = text(p, 'cmd', MAX_SHELL_TEXT_BYTES) as string;
  const args = texts(p, 'args', MAX_SHELL_ARGS, MAX_SHELL_TEXT_BYTES);
  const env = texts(p, 'env', MAX_SHELL_ENV, MAX_SHELL_TEXT_BYTES);
  for (const entry of env ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry))
      throw new TaskParameterError('parameters.env', 'entries are NAME=value');
  }
  const workingDir = path(p, 'working_dir', true);
  return {
    cmd,
    ...(args ? { args } : {}),
    ...(env ? { env } : {}),
    ...(workingDir ? { working_dir: workingDir } : {}),
  };
}

function killProcess(p: Params): KillProcessParameters {
  onlyKeys(p, ['pid', 'start_ticks', 'signal']);
  const pid = p.pid;
  if (!Number.isInteger(pid) || (pid as number) < 2 || (pid as number) > MAX_PID)
    throw new TaskParameterError('parameters.pid', `must be an integer from 2 to ${MAX_PID}`);
  // start_ticks names the process (a reused pid is refused by the agent): required.
  const ticks = typeof p.start_ticks === 'number' ? String(p.start_ticks) : p.start_ticks;
  if (
    typeof ticks !== 'string' ||
    !/^[1-9][0-9]{0,19}$/.test(ticks) ||
    BigInt(ticks) > 2n ** 64n - 1n
  )
    throw new TaskParameterError(
      'parameters.start_ticks',
      'must be the process start time in clock ticks (a positive integer, as process_list and PROCESS alerts give it)',
    );
  const signal = p.signal;
  if (signal !== undefined && signal !== 'SIGTERM' && signal !== 'SIGKILL')
    throw new TaskParameterError('parameters.signal', 'must be SIGTERM or SIGKILL');
  return { pid: pid as number, start_ticks: ticks, ...(signal ? { signal } : {}) };
}

function fileFetch(p: Params): TaskParametersByAction['file_fetch'] {
  onlyKeys(p, ['path', 'max_bytes']);
  const max = p.max_bytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || (max as number) < 1))
    throw new TaskParameterError('parameters.max_bytes', 'must be a positive integer');
  return {
    path: path(p, 'path') as string,
    ...(max !== undefined ? { max_bytes: max as number } : {}),
  };
}

function pathOnly(p: Params): { path: string } {
  onlyKeys(p, ['path']);
  return { path: path(p, 'path') as string };
}

function noParameters(p: Params): Record<string, never> {
  onlyKeys(p, []);
  return {};
}

const QUARANTINE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const CHECKS: { [A in TaskAction]: (p: Params) => TaskParametersByAction[A] } = {
  process_list: noParameters,
  network_connections: noParameters,
  file_hash: pathOnly,
  file_fetch: fileFetch,
  kill_process: killProcess,
  quarantine_file: pathOnly,
  restore_file: (p) => {
    onlyKeys(p, ['quarantine_id']);
    const id = text(p, 'quarantine_id', 64) as string;
    if (!QUARANTINE_ID.test(id))
      throw new TaskParameterError(
        'parameters.quarantine_id',
        'must be the id quarantine_file returned (a lowercase UUID)',
      );
    return { quarantine_id: id };
  },
  shell_execute: shellExecute,
};

/**
 * The action and its parameters checked and normalized (unknown keys refused, optional ones
 * left out); throws TaskParameterError naming the field.
 */
export function validateTaskParameters(
  action: unknown,
  parameters: unknown,
): { action: TaskAction; parameters: Record<string, unknown> } {
  if (!isTaskAction(action))
    throw new TaskParameterError('action', `must be one of ${Object.keys(CHECKS).join(', ')}`);
  const p = parameters ?? {};
  if (typeof p !== 'object' || Array.isArray(p))
    throw new TaskParameterError('parameters', 'must be an object');
  const size = utf8ByteLength(JSON.stringify(p));
  if (size > MAX_TASK_PARAMETERS_BYTES)
    throw new TaskParameterError(
      'parameters',
      `are ${size} bytes of JSON; at most ${MAX_TASK_PARAMETERS_BYTES}`,
    );
  return { action, parameters: CHECKS[action](p as Params) as Record<string, unknown> };
}
