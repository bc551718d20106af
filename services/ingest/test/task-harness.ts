// Response actions under test: a ResponseService client, a WatchTask recorder, a bare agent
// speaking TaskService by hand (for protocol cases a real agent never produces on demand), and
// the real tripwire-agent process.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClientDuplexStream,
  credentials,
  Metadata,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import {
  type AgentTaskPolicy,
  ApproveTaskRequest,
  CancelTaskRequest,
  CreateTaskRequest,
  GetTaskRequest,
  ListTasksRequest,
  ResponseServiceClient,
  type StreamTasksRequest,
  type StreamTasksResponse,
  type Task,
  type TaskOutput,
  type TaskRequest,
  type TaskResponse,
  TaskServiceClient,
  TaskState,
  TaskStatus,
} from '@tripwire/proto';
import { ServiceProcess } from '@tripwire/test-fixtures';
import {
  bearer,
  connect,
  ENROLLMENT_TOKEN,
  type Environment,
  register,
  until,
} from './ingest-harness.js';

export { TaskState, TaskStatus, until };

type Unary<Req, Res> = (
  req: Req,
  metadata: Metadata,
  callback: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** ResponseService's unary calls as promises, each with `token`. */
export function responseCalls(address: string, token: string) {
  const client = new ResponseServiceClient(address, credentials.createInsecure());
  const call =
    <Req, Res extends { task?: Task | undefined }>(
      method: Unary<Req, Res>,
      type: { decode(bytes: Uint8Array): Req },
    ) =>
    (req: Partial<Req>) =>
      new Promise<Task>((resolve, reject) =>
        method.call(
          client,
          { ...type.decode(new Uint8Array()), ...req },
          bearer(token),
          (err, res) => (err ? reject(err) : resolve(res.task!)),
        ),
      );
  return {
    client,
    create: call(client.createTask, CreateTaskRequest),
    get: call(client.getTask, GetTaskRequest),
    cancel: call(client.cancelTask, CancelTaskRequest),
    approve: call(client.approveTask, ApproveTaskRequest),
    list: (req: Partial<ListTasksRequest>) =>
      new Promise<Task[]>((resolve, reject) =>
        client.listTasks(
          { ...ListTasksRequest.decode(new Uint8Array()), ...req },
          bearer(token),
          (err, res) => (err ? reject(err) : resolve(res.tasks)),
        ),
      ),
    close: () => client.close(),
  };
}

export type ResponseCalls = ReturnType<typeof responseCalls>;

/** A shell task request body. */
export const shellTask = (
  hostId: string,
  cmd: string,
  timeoutSeconds = 60,
): Partial<CreateTaskRequest> => ({
  hostId,
  timeoutSeconds,
  action: { $case: 'shellExecute', shellExecute: { cmd, args: [], env: [], workingDir: '' } },
});

/** Everything a WatchTask call received, and how it ended. */
export function watchTask(calls: ResponseCalls, token: string, taskId: string) {
  const tasks: Task[] = [];
  const outputs: TaskOutput[] = [];
  let ended: StatusObject | ServiceError | null = null;
  const stream = calls.client.watchTask({ taskId, afterSequence: 0 }, bearer(token));
  stream.on('data', (m) => {
    if (m.event?.$case === 'task') tasks.push(m.event.task);
    if (m.event?.$case === 'output') outputs.push(m.event.output);
  });
  stream.on('status', (s: StatusObject) => {
    ended ??= s;
  });
  stream.on('error', (e: ServiceError) => {
    ended = e;
  });
  return {
    tasks,
    outputs,
    text: (name: string) =>
      outputs
        .filter((o) => o.stream === name)
        .map((o) => o.text)
        .join(''),
    states: () => tasks.map((t) => TaskState[t.state]),
    get ended() {
      return ended;
    },
    cancel: () => stream.cancel(),
  };
}

export const POLICY_ALL: AgentTaskPolicy = {
  enabledActions: [
    'process_list',
    'network_connections',
    'file_hash',
    'file_fetch',
    'kill_process',
    'quarantine_file',
    'restore_file',
    'shell_execute',
  ],
  shellRestricted: false,
  shellAllowPatterns: [],
  killSwitch: false,
  maxTimeoutSeconds: 3600,
  defaultTimeoutSeconds: 60,
  maxOutputBytes: 1024 * 1024,
  maxFetchBytes: 10 * 1024 * 1024,
  maxConcurrentTasks: 8,
};

/**
 * An agent played by hand over a raw TaskService stream: sends its policy, records what the
 * server sends, answers only when told. For duplicate outcomes, silence past a timeout, floods.
 */
export class BareAgent {
  readonly requests: TaskRequest[] = [];
  readonly acks: string[] = [];
  ended: ServiceError | null = null;
  private readonly client: TaskServiceClient;
  private stream: ClientDuplexStream<StreamTasksRequest, StreamTasksResponse> | null = null;

  constructor(
    address: string,
    private readonly token: string,
  ) {
    this.client = new TaskServiceClient(address, credentials.createInsecure());
  }

  /** Opens the stream; its first message is `policy` (none with null). */
  connect(policy: AgentTaskPolicy | null = POLICY_ALL): this {
    const stream = this.client.streamTasks(bearer(this.token));
    stream.on('data', (m: StreamTasksResponse) => {
      if (m.message?.$case === 'taskRequest') this.requests.push(m.message.taskRequest);
      if (m.message?.$case === 'outcomeAck') this.acks.push(...m.message.outcomeAck.taskIds);
    });
    stream.on('error', (e: ServiceError) => {
      this.ended = e;
    });
    if (policy) stream.write({ message: { $case: 'policy', policy } });
    this.stream = stream;
    return this;
  }

  /** Task requests (not cancels) received, by id. */
  tasks = () => this.requests.filter((r) => r.task?.$case !== 'taskCancel').map((r) => r.taskId);
  cancels = () => this.requests.filter((r) => r.task?.$case === 'taskCancel').map((r) => r.taskId);

  send(response: Partial<TaskResponse> & Pick<TaskResponse, 'taskId'>): void {
    this.stream!.write({
      message: {
        $case: 'taskResponse',
        taskResponse: {
          status: TaskStatus.TASK_STATUS_RUNNING,
          isFinal: false,
          cancelled: false,
          error: '',
          sequence: 1,
          truncated: false,
          response: undefined,
          ...response,
        },
      },
    });
  }

  stdout(taskId: string, sequence: number, text: string): void {
    this.send({
      taskId,
      sequence,
      response: {
        $case: 'shellExecute',
        shellExecute: { stdout: text, stderr: '', exitCode: 0, signal: '' },
      },
    });
  }

  finish(taskId: string, sequence: number, status = TaskStatus.TASK_STATUS_SUCCEEDED): void {
    this.send({
      taskId,
      sequence,
      status,
      isFinal: true,
      response: {
        $case: 'shellExecute',
        shellExecute: { stdout: '', stderr: '', exitCode: 0, signal: '' },
      },
    });
  }

  disconnect(): void {
    this.stream?.cancel();
    this.stream = null;
  }

  close(): void {
    this.disconnect();
    this.client.close();
  }
}

/** A registered host and a bare agent connected for it (its policy reported). */
export async function hostWithBareAgent(
  env: Environment,
  cleanups: Array<() => unknown>,
  address: string,
  policy = POLICY_ALL,
) {
  const client = connect(address);
  const reg = await register(client, `bare-${randomUUID().slice(0, 8)}`);
  client.close();
  const agent = new BareAgent(address, reg.agentToken).connect(policy);
  cleanups.push(() => agent.close());
  await until(
    async () =>
      (
        await env.pool.query(
          'SELECT 1 FROM host_task_channels WHERE host_id = $1 AND policy IS NOT NULL',
          [reg.hostId],
        )
      ).rows.length > 0,
    10_000,
    'the task channel',
  );
  return { hostId: reg.hostId, token: reg.agentToken, agent };
}

const AGENT_DIR = fileURLToPath(new URL('../../agent', import.meta.url));

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `tripwire-${prefix}-`));

/** The real tripwire-agent, its own process, enrolled with the ingest under `hostname`. */
export function realAgent(
  address: string,
  stateDir: string,
  hostname: string,
  actions = 'shell_execute,file_hash',
  extraArgs: readonly string[] = [],
): ServiceProcess {
  const rules = join(tempDir('rules'), 'rules.json');
  writeFileSync(rules, JSON.stringify({ rules: [] }));
  const proc = new ServiceProcess(AGENT_DIR, ['src/cli.ts'], {
    TRIPWIRE_LOG_LEVEL: 'info',
    TRIPWIRE_ENROLL_TOKEN: ENROLLMENT_TOKEN,
    TRIPWIRE_LOCK_STALE_S: '2',
  });
  proc.spawn([
    'run',
    '--server',
    address,
    '--insecure',
    '--state-dir',
    stateDir,
    '--hostname',
    hostname,
    '--rules-file',
    rules,
    '--task-shell-unrestricted',
    '--task-actions',
    actions,
    ...extraArgs,
  ]);
  return proc;
}

/** Waits until `hostId`'s agent holds its task channel with a reported policy. */
export async function taskChannelReady(
  pool: { query: (q: string, p: unknown[]) => Promise<{ rows: unknown[] }> },
  hostId: string,
  timeoutMs = 60_000,
): Promise<void> {
  await until(
    async () =>
      (
        await pool.query(
          'SELECT 1 FROM host_task_channels WHERE host_id = $1 AND stream_id IS NOT NULL AND policy IS NOT NULL',
          [hostId],
        )
      ).rows.length > 0,
    timeoutMs,
    'the agent task channel',
  );
}

export const emptyMetadata = () => new Metadata();
