import {
  type AgentTaskPolicy,
  type CreateTaskRequest,
  KillSignal,
  type TaskRequest,
  type TaskResponse,
  TaskStatus,
} from '@tripwire/proto';
import type {
  AgentTaskResponse,
  AgentTaskStatus,
  TaskOutputPiece,
  TaskPolicy,
  TaskRow,
} from '@tripwire/storage';
import type { TaskAction } from '@tripwire/wire';

// Between the agent's protobuf (task_service.proto) and the stored task: the request sent for
// a task row, and the storage view of each response. Bulk (output, listings, file content) goes
// to output chunks; the final response's small summary goes to the task's `result`.

type P = Record<string, unknown>;
const str = (p: P, k: string) => (typeof p[k] === 'string' ? (p[k] as string) : '');
const list = (p: P, k: string) => (Array.isArray(p[k]) ? (p[k] as string[]) : []);

type RequestCase = Exclude<NonNullable<TaskRequest['task']>, { $case: 'taskCancel' }>;

const REQUEST_CASE: { [A in TaskAction]: (p: P) => RequestCase } = {
  process_list: () => ({ $case: 'processList', processList: {} }),
  network_connections: () => ({ $case: 'networkConnections', networkConnections: {} }),
  file_hash: (p) => ({ $case: 'fileHash', fileHash: { path: str(p, 'path') } }),
  file_fetch: (p) => ({
    $case: 'fileFetch',
    fileFetch: { path: str(p, 'path'), maxBytes: Number(p.max_bytes ?? 0) },
  }),
  kill_process: (p) => ({
    $case: 'killProcess',
    killProcess: {
      pid: Number(p.pid),
      startTicks: Number(p.start_ticks),
      signal:
        p.signal === 'SIGTERM' ? KillSignal.KILL_SIGNAL_SIGTERM : KillSignal.KILL_SIGNAL_SIGKILL,
    },
  }),
  quarantine_file: (p) => ({ $case: 'quarantineFile', quarantineFile: { path: str(p, 'path') } }),
  restore_file: (p) => ({
    $case: 'restoreFile',
    restoreFile: { quarantineId: str(p, 'quarantine_id') },
  }),
  shell_execute: (p) => ({
    $case: 'shellExecute',
    shellExecute: {
      cmd: str(p, 'cmd'),
      args: list(p, 'args'),
      env: list(p, 'env'),
      workingDir: str(p, 'working_dir'),
    },
  }),
};

/** The request that runs a stored task on its agent. */
export function taskRequestOf(
  row: Pick<TaskRow, 'task_id' | 'action' | 'parameters' | 'timeout_s' | 'max_output_bytes'>,
): TaskRequest {
  return {
    taskId: row.task_id,
    timeoutSeconds: row.timeout_s,
    maxOutputBytes: row.max_output_bytes,
    task: REQUEST_CASE[row.action](row.parameters),
  };
}

/** Tells the agent to cancel a task. */
export function cancelRequestOf(taskId: string, reason: string): TaskRequest {
  return {
    taskId,
    timeoutSeconds: 0,
    maxOutputBytes: 0,
    task: { $case: 'taskCancel', taskCancel: { reason } },
  };
}

/** A CreateTaskRequest's action and its parameters in the stored (JSON) form, to be validated. */
export function taskInputOf(req: CreateTaskRequest): { action: string; parameters: P } {
  const a = req.action;
  switch (a?.$case) {
    case 'shellExecute': {
      const { cmd, args, env, workingDir } = a.shellExecute;
      return {
        action: 'shell_execute',
        parameters: {
          cmd,
          ...(args.length ? { args } : {}),
          ...(env.length ? { env } : {}),
          ...(workingDir ? { working_dir: workingDir } : {}),
        },
      };
    }
    case 'killProcess': {
      const { pid, startTicks, signal } = a.killProcess;
      const name =
        signal === KillSignal.KILL_SIGNAL_SIGTERM
          ? 'SIGTERM'
          : signal === KillSignal.KILL_SIGNAL_SIGKILL
            ? 'SIGKILL'
            : undefined;
      return {
        action: 'kill_process',
        parameters: {
          pid,
          ...(startTicks ? { start_ticks: String(startTicks) } : {}),
          ...(name ? { signal: name } : {}),
        },
      };
    }
    case 'fileFetch':
      return {
        action: 'file_fetch',
        parameters: {
          path: a.fileFetch.path,
          ...(a.fileFetch.maxBytes ? { max_bytes: a.fileFetch.maxBytes } : {}),
        },
      };
    case 'fileHash':
      return { action: 'file_hash', parameters: { path: a.fileHash.path } };
    case 'quarantineFile':
      return { action: 'quarantine_file', parameters: { path: a.quarantineFile.path } };
    case 'restoreFile':
      return { action: 'restore_file', parameters: { quarantine_id: a.restoreFile.quarantineId } };
    case 'processList':
      return { action: 'process_list', parameters: {} };
    case 'networkConnections':
      return { action: 'network_connections', parameters: {} };
    default:
      return { action: '', parameters: {} };
  }
}

const STATUS: Partial<Record<TaskStatus, AgentTaskStatus>> = {
  [TaskStatus.TASK_STATUS_RUNNING]: 'RUNNING',
  [TaskStatus.TASK_STATUS_SUCCEEDED]: 'SUCCEEDED',
  [TaskStatus.TASK_STATUS_FAILED]: 'FAILED',
  [TaskStatus.TASK_STATUS_TIMED_OUT]: 'TIMED_OUT',
  [TaskStatus.TASK_STATUS_CANCELLED]: 'CANCELLED',
  [TaskStatus.TASK_STATUS_REFUSED]: 'REFUSED',
};

const listing = (rows: unknown[]): TaskOutputPiece[] =>
  rows.length ? [{ stream: 'listing', data: Buffer.from(JSON.stringify(rows)) }] : [];

/** The response's bulk (output chunks) and, on the final response, its summary. */
function payloadOf(r: TaskResponse): {
  output: TaskOutputPiece[];
  result: P | null;
  exitCode: number | null;
} {
  const none = { output: [], result: null, exitCode: null };
  const p = r.response;
  switch (p?.$case) {
    case 'shellExecute': {
      const { stdout, stderr, exitCode, signal } = p.shellExecute;
      const output: TaskOutputPiece[] = [];
      if (stdout) output.push({ stream: 'stdout', data: Buffer.from(stdout) });
      if (stderr) output.push({ stream: 'stderr', data: Buffer.from(stderr) });
      if (!r.isFinal) return { ...none, output };
      return { output, result: { exit_code: exitCode, signal: signal || null }, exitCode };
    }
    case 'processList':
      return { ...none, output: listing(p.processList.processes) };
    case 'networkConnections':
      return { ...none, output: listing(p.networkConnections.connections) };
    case 'fileFetch': {
      const { content, size, sha256 } = p.fileFetch;
      const output: TaskOutputPiece[] = content.length
        ? [{ stream: 'file', data: Buffer.from(content) }]
        : [];
      return { ...none, output, result: r.isFinal ? { size, sha256 } : null };
    }
    case 'fileHash':
      return { ...none, result: { ...p.fileHash } };
    case 'killProcess':
      return { ...none, result: { ...p.killProcess } };
    case 'quarantineFile':
      return { ...none, result: { ...p.quarantineFile } };
    case 'restoreFile':
      return { ...none, result: { ...p.restoreFile } };
    default:
      return none;
  }
}

/**
 * PostgreSQL's text and jsonb cannot hold U+0000: an agent's NUL would fail the write, and the
 * agent would resend the same outcome forever. Removed from everything stored as text.
 */
const withoutNul = (text: string) => text.replaceAll('\0', '');
const resultWithoutNul = (result: P | null): P | null =>
  result &&
  (JSON.parse(JSON.stringify(result, (_k, v) => (typeof v === 'string' ? withoutNul(v) : v))) as P);

/** What storage keeps of one agent response. */
export function agentResponseOf(hostId: string, r: TaskResponse): AgentTaskResponse {
  const { output, result: raw, exitCode } = payloadOf(r);
  const result = resultWithoutNul(raw);
  return {
    hostId,
    taskId: r.taskId,
    status: STATUS[r.status] ?? 'UNSPECIFIED',
    isFinal: r.isFinal,
    sequence: r.sequence,
    error: withoutNul(r.error.slice(0, 4000)),
    truncated: r.truncated,
    output,
    exitCode,
    result,
  };
}

const MAX_POLICY_LIST = 256;
const MAX_POLICY_TEXT = 1024;

/** The reported policy, bounded (an agent's report is input like any other). */
export function taskPolicyOf(p: AgentTaskPolicy): TaskPolicy {
  const texts = (xs: string[]) =>
    xs.slice(0, MAX_POLICY_LIST).map((x) => x.replaceAll('\0', '').slice(0, MAX_POLICY_TEXT));
  return {
    enabledActions: texts(p.enabledActions),
    shellRestricted: p.shellRestricted,
    shellAllowPatterns: texts(p.shellAllowPatterns),
    killSwitch: p.killSwitch,
    maxTimeoutSeconds: p.maxTimeoutSeconds,
    defaultTimeoutSeconds: p.defaultTimeoutSeconds,
    maxOutputBytes: p.maxOutputBytes,
    maxFetchBytes: p.maxFetchBytes,
    maxConcurrentTasks: p.maxConcurrentTasks,
  };
}
