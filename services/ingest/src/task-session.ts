import { randomUUID } from 'node:crypto';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import {
  type AgentTaskPolicy,
  type StreamTasksRequest,
  StreamTasksResponse,
  TaskResponse,
} from '@tripwire/proto';
import {
  claimTasksForHost,
  closeTaskChannel,
  getTask,
  type Host,
  openTaskChannel,
  type Pool,
  recordTaskPolicy,
  recordTaskResponse,
  refuseTasksByPolicy,
  type TaskPolicy,
  type TaskRow,
  takeOverActiveTasks,
  toTaskJson,
} from '@tripwire/storage';
import type { TaskEventKind, TaskJson, TaskOutputJson } from '@tripwire/wire';
import { CallError } from './agent-auth.js';
import type { HandlerGuard } from './handler-guard.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';
import { TaskStreamBudget, type TaskStreamLimits } from './task-stream-budget.js';
import { agentResponseOf, cancelRequestOf, taskPolicyOf, taskRequestOf } from './task-wire.js';
import { WriteBudget } from './write-budget.js';

export type TaskCall = ServerDuplexStream<StreamTasksRequest, StreamTasksResponse>;

export interface TaskSessionDeps {
  pool: Pool;
  log: Logger;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  instanceId: string;
  limits: {
    /** TASKS_MAX_RUNNING_PER_HOST (the agent's own max_concurrent_tasks may lower it). */
    maxRunning: number;
    fetchMaxBytes: number;
    /** Bytes written to the agent and not yet read before it is cut off. */
    maxBufferedBytes: number;
    /** A stream that reports no policy within this is ended. */
    policyWaitMs: number;
  } & TaskStreamLimits;
  /** Every task change: to the bus, to local watchers, to metrics. */
  publish(event: TaskEventKind, task: TaskJson, output?: TaskOutputJson): void;
  /** The session ended (its stream closed or was replaced). */
  closed(session: TaskSession): void;
}

/** Responses waiting to be stored before the stream stops being read (backpressure). */
const MAX_QUEUED_RESPONSES = 64;

/**
 * One agent's StreamTasks call: holds the host's task channel, stores the agent's policy and
 * responses in order (one at a time, so a task's chunks are stored in sequence), sends
 * tasks and cancels, and acknowledges each outcome once it is durable.
 */
export class TaskSession {
  readonly streamId = randomUUID();
  private policy: TaskPolicy | null = null;
  private readonly queue: StreamTasksRequest[] = [];
  private working = false;
  private dispatching: Promise<void> | null = null;
  private dispatchAgain = false;
  private ended = false;
  private readonly writes: WriteBudget<StreamTasksResponse>;
  private readonly budget: TaskStreamBudget;
  private readonly log: Logger;
  private policyTimer: NodeJS.Timeout | undefined;
  /** The stream has taken the host's task channel. */
  opened = false;

  constructor(
    readonly host: Host,
    private readonly call: TaskCall,
    private readonly deps: TaskSessionDeps,
  ) {
    this.log = deps.log.child({ hostId: host.hostId, streamId: this.streamId });
    this.writes = new WriteBudget(call, deps.limits.maxBufferedBytes);
    this.budget = new TaskStreamBudget(deps.limits);
  }

  get hostId(): string {
    return this.host.hostId;
  }

  /** Takes the host's channel and starts reading. */
  async open(): Promise<void> {
    await openTaskChannel(this.deps.pool, this.hostId, this.streamId, this.deps.instanceId);
    this.opened = true;
    this.policyTimer = setTimeout(() => {
      if (!this.policy)
        this.end(
          status.FAILED_PRECONDITION,
          'the first message of StreamTasks must be the agent policy',
        );
    }, this.deps.limits.policyWaitMs);
    this.policyTimer.unref();
    const guarded = (name: string, fn: () => void) => () =>
      this.deps.guard.run(`StreamTasks.${name}`, fn, (e) => this.end(e.code, e.message));
    this.call.on('data', (m: StreamTasksRequest) => guarded('data', () => this.receive(m))());
    this.call.on(
      'end',
      guarded('end', () => this.end()),
    );
    this.call.on(
      'cancelled',
      guarded('cancelled', () => this.finish()),
    );
    this.call.on('error', () => this.finish());
    this.call.on('close', () => this.finish());
    this.log.info('task stream open');
  }

  private receive(message: StreamTasksRequest): void {
    if (this.ended) return;
    if (message instanceof MalformedMessage) {
      this.end(status.INVALID_ARGUMENT, message.describe());
      return;
    }
    this.queue.push(message);
    if (this.queue.length >= MAX_QUEUED_RESPONSES) this.call.pause();
    void this.work();
  }

  /** Stores messages one at a time, in arrival order. */
  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      for (let m = this.queue.shift(); m && !this.ended; m = this.queue.shift()) {
        if (this.queue.length < MAX_QUEUED_RESPONSES / 2) this.call.resume();
        if (m.message?.$case === 'policy') await this.onPolicy(m.message.policy);
        else if (m.message?.$case === 'taskResponse') await this.onResponse(m.message.taskResponse);
      }
    } catch (err) {
      if (err instanceof CallError) {
        // Over the stream's write budget (task-stream-budget.ts): this stream only is ended.
        this.deps.metrics.limitsHit.inc({ limit: err.reason });
        this.log.warn({ reason: err.reason }, err.message);
        this.end(err.code, err.message);
        return;
      }
      // The database failed: the agent reconnects and resends every unacknowledged outcome.
      this.deps.metrics.taskResponses.inc({ result: 'failed' });
      this.log.warn({ err }, 'could not store a task stream message; ending the stream');
      this.end(status.UNAVAILABLE, 'the server could not store this; reconnect and resend');
    } finally {
      this.working = false;
    }
  }

  private async onPolicy(reported: AgentTaskPolicy): Promise<void> {
    const first = this.policy === null;
    this.policy = taskPolicyOf(reported);
    clearTimeout(this.policyTimer);
    await recordTaskPolicy(this.deps.pool, this.hostId, this.streamId, this.policy);
    this.log.info(
      { policy: { ...this.policy, shellAllowPatterns: this.policy.shellAllowPatterns.length } },
      'agent task policy',
    );
    if (first) await this.redeliver();
    this.dispatch();
  }

  /** Tasks sent on an earlier stream and not finished: sent again (the agent runs an id once). */
  private async redeliver(): Promise<void> {
    const rows = await takeOverActiveTasks(this.deps.pool, this.hostId, this.streamId);
    for (const row of rows) {
      this.send({ message: { $case: 'taskRequest', taskRequest: taskRequestOf(row) } });
      this.deps.metrics.tasksDispatched.inc({ delivery: 'redelivered' });
      if (row.cancel_requested_by)
        this.sendCancel(row.task_id, row.cancel_reason ?? '', 'operator');
    }
    if (rows.length) this.log.info({ tasks: rows.length }, 'redelivered unfinished tasks');
  }

  private async onResponse(r: TaskResponse): Promise<void> {
    const bytes = TaskResponse.encode(r).finish().length;
    await this.budget.admit(bytes);
    if (!this.budget.chunkAllowed(r, bytes)) {
      this.deps.metrics.limitsHit.inc({ limit: 'task_chunks' });
      return;
    }
    const stored = await recordTaskResponse(this.deps.pool, agentResponseOf(this.hostId, r), {
      fetchMaxBytes: this.deps.limits.fetchMaxBytes,
    });
    const { task } = stored;
    if (task) this.budget.stored(r, bytes, stored.outputs.length);
    const result = !task ? 'unknown' : stored.duplicate ? 'duplicate' : 'stored';
    this.deps.metrics.taskResponses.inc({ result });
    if (task) {
      for (const output of stored.outputs) this.deps.publish('output', task, output);
      if (stored.started) this.deps.publish('updated', task);
      if (stored.finished) this.deps.publish('finished', task);
    }
    // Durable now (or never ours): the agent may forget this outcome.
    if (r.isFinal)
      this.send({ message: { $case: 'outcomeAck', outcomeAck: { taskIds: [r.taskId] } } });
    if (stored.finished) this.dispatch();
  }

  /** Sends the host's next queued tasks, if it has free slots; runs one pass at a time. */
  dispatch(): void {
    if (!this.policy || this.ended) return;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = this.dispatchPass()
      .catch((err) => this.log.warn({ err }, 'could not dispatch tasks; retried on the next sweep'))
      .finally(() => {
        this.dispatching = null;
        if (this.dispatchAgain) {
          this.dispatchAgain = false;
          this.dispatch();
        }
      });
  }

  private async dispatchPass(): Promise<void> {
    const policy = this.policy!;
    for (const task of await refuseTasksByPolicy(this.deps.pool, this.hostId, policy))
      this.deps.publish('finished', task);
    const maxRunning = Math.max(
      1,
      Math.min(this.deps.limits.maxRunning, policy.maxConcurrentTasks || Infinity),
    );
    const claimed = await claimTasksForHost(this.deps.pool, {
      hostId: this.hostId,
      streamId: this.streamId,
      maxRunning,
    });
    for (const row of claimed) this.sendTask(row);
  }

  private sendTask(row: TaskRow): void {
    this.send({ message: { $case: 'taskRequest', taskRequest: taskRequestOf(row) } });
    this.deps.metrics.tasksDispatched.inc({ delivery: 'first' });
    this.deps.publish('updated', toTaskJson(row));
  }

  /** Tells the agent to cancel a task (an operator's cancel, or the server's timeout). */
  sendCancel(taskId: string, reason: string, cause: 'operator' | 'timeout'): void {
    this.send({ message: { $case: 'taskRequest', taskRequest: cancelRequestOf(taskId, reason) } });
    this.deps.metrics.taskCancelsSent.inc({ cause });
  }

  /** A cancel announced by NOTIFY (an operator's, or a timeout swept elsewhere): sent if the task was sent. */
  async relayCancel(taskId: string): Promise<void> {
    const task = await getTask(this.deps.pool, taskId);
    // Also for a task the server already ended (timed out): the agent may still be running it.
    if (task && task.host_id === this.hostId && task.dispatch_count > 0)
      this.sendCancel(
        taskId,
        task.cancel_reason || `cancelled by ${task.cancel_requested_by}`,
        'operator',
      );
  }

  private send(message: StreamTasksResponse): void {
    if (this.ended) return;
    const bytes = StreamTasksResponse.encode(message).finish().length;
    if (this.writes.write(message, bytes) === 'over_budget') {
      this.deps.metrics.limitsHit.inc({ limit: 'task_stream_budget' });
      this.end(status.RESOURCE_EXHAUSTED, 'the agent stopped reading its task stream; reconnect');
    }
  }

  /** Ends the call (OK when no code is given) and releases the channel. */
  end(code?: status, details?: string): void {
    if (this.ended) return;
    if (code === undefined) this.call.end();
    else this.call.emit('error', { code, details });
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.policyTimer);
    this.queue.length = 0;
    this.deps.closed(this);
    closeTaskChannel(this.deps.pool, this.hostId, this.streamId).catch((err) =>
      this.log.warn({ err }, 'could not release the task channel; it expires with the heartbeat'),
    );
    this.log.info('task stream closed');
  }
}
