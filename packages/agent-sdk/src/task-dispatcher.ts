import type { Logger } from '@tripwire/logger';
import { type TaskRequest, TaskResponse, TaskStatus } from '@tripwire/proto';
import type { TaskJournal } from './task-journal.js';
import type {
  TaskAbortReason,
  TaskContext,
  TaskOutcome,
  TaskPayload,
  TaskRunner,
} from './task-runner.js';

const TASK_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** After its signal aborts, a task gets this long to end before its outcome is written anyway. */
const ABORT_GRACE_MS = 10_000;
/**
 * Small chunks (under SMALL_CHUNK_BYTES encoded) one task may send; later ones are dropped and
 * the outcome marked truncated. The server stores each chunk as a row and a bus message and
 * caps them too (TASK_MAX_CHUNKS_PER_TASK, same default): a runner emitting byte by byte is cut
 * here, before it costs the network. Large chunks are bounded by the byte caps already, so a
 * big file_fetch (64 KiB chunks) is never cut by this.
 */
export const MAX_CHUNKS_PER_TASK = 4_096;
export const SMALL_CHUNK_BYTES = 4_096;

export interface TaskDispatcherStats {
  started: number;
  duplicates: number;
  invalid: number;
  cancelled: number;
  /** Responses produced while no stream was open (chunks are live only; outcomes are resent). */
  unsent: number;
  /** Chunks dropped past MAX_CHUNKS_PER_TASK. */
  overChunks: number;
}

interface RunningTask {
  controller: AbortController;
  sequence: number;
  /** Small chunks sent so far. */
  small: number;
  /** A chunk was dropped past MAX_CHUNKS_PER_TASK: the outcome says truncated. */
  cut?: boolean;
}

/**
 * Routes each TaskRequest: refuses a malformed id, answers a repeat from the journal instead of
 * running it again, cancels, enforces the timeout, numbers each task's responses, and writes
 * the outcome to the journal before it is sent.
 */
export class TaskDispatcher {
  readonly stats: TaskDispatcherStats = {
    started: 0,
    duplicates: 0,
    invalid: 0,
    cancelled: 0,
    unsent: 0,
    overChunks: 0,
  };
  private readonly running = new Map<string, RunningTask>();
  private readonly finishing = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      runner: TaskRunner;
      journal: TaskJournal;
      /** Writes a response on the open stream; false when there is none. */
      send: (response: TaskResponse) => boolean;
      log: Logger;
    },
  ) {}

  get runningCount(): number {
    return this.running.size;
  }

  handle(request: TaskRequest): void {
    const { taskId } = request;
    if (!TASK_ID.test(taskId)) {
      this.stats.invalid++;
      this.deps.log.warn(
        { taskId: taskId.slice(0, 140) },
        'task request refused: task_id must be 1-128 of [A-Za-z0-9._:-]',
      );
      return;
    }
    if (request.task?.$case === 'taskCancel') {
      this.cancel(taskId, request.task.taskCancel.reason);
      return;
    }
    if (this.running.has(taskId) || this.deps.journal.state(taskId)) {
      this.repeat(taskId);
      return;
    }
    this.track(this.start(request));
  }

  /** Aborts every running task (the agent is stopping) and waits for their outcomes. */
  async stop(): Promise<void> {
    for (const task of this.running.values()) task.controller.abort('agent_stopping');
    while (this.finishing.size > 0) await Promise.all(this.finishing);
    await this.deps.journal.settled();
  }

  private track(work: Promise<void>): void {
    const done = work.catch((err: unknown) =>
      this.deps.log.error({ err }, 'task bookkeeping failed'),
    );
    this.finishing.add(done);
    void done.finally(() => this.finishing.delete(done));
  }

  /** At-least-once delivery: a task id seen before is never run again. */
  private repeat(taskId: string): void {
    this.stats.duplicates++;
    const outcome = this.deps.journal.outcome(taskId);
    this.deps.log.info(
      { taskId, state: this.deps.journal.state(taskId) ?? 'running' },
      'task delivered again; not running it twice',
    );
    if (outcome) this.send(outcome);
  }

  private cancel(taskId: string, reason: string): void {
    const task = this.running.get(taskId);
    const finished = !task && this.deps.journal.state(taskId) !== undefined;
    let message: string;
    if (task) {
      message = 'cancelling: the task is being stopped';
      task.controller.abort('cancelled');
      this.stats.cancelled++;
    } else if (finished) {
      message = 'the task had already finished';
    } else {
      // Cancelled before it arrived (a reordering across reconnects): it must never run.
      message = 'the task never reached this agent; it will not run';
      this.track(this.finish(taskId, { status: TaskStatus.TASK_STATUS_CANCELLED }, 'cancelled'));
    }
    this.deps.log.info({ taskId, reason: reason.slice(0, 200), message }, 'task cancel');
    this.send({
      ...emptyResponse(taskId),
      status: task ? TaskStatus.TASK_STATUS_RUNNING : TaskStatus.TASK_STATUS_UNSPECIFIED,
      sequence: task ? ++task.sequence : 0,
      cancelled: true,
      response: { $case: 'taskCancel', taskCancel: { message } },
    });
    const outcome = finished ? this.deps.journal.outcome(taskId) : undefined;
    if (outcome) this.send(outcome);
  }

  private async start(request: TaskRequest): Promise<void> {
    const { taskId } = request;
    const policy = this.deps.runner.policy();
    const task: RunningTask = { controller: new AbortController(), sequence: 0, small: 0 };
    const refusal = this.deps.runner.refusal?.(request);
    if (refusal) {
      await this.finish(
        taskId,
        { status: TaskStatus.TASK_STATUS_REFUSED, error: refusal },
        undefined,
      );
      return;
    }
    if (this.running.size >= Math.max(1, policy.maxConcurrentTasks)) {
      const error = `agent busy: ${this.running.size} tasks running, the most it runs at once`;
      await this.finish(taskId, { status: TaskStatus.TASK_STATUS_REFUSED, error }, undefined);
      return;
    }
    this.running.set(taskId, task);
    try {
      await this.deps.journal.begin(taskId);
    } catch (err) {
      this.running.delete(taskId);
      this.deps.log.error({ err, taskId }, 'cannot journal the task; not running it');
      this.send({
        ...emptyResponse(taskId),
        status: TaskStatus.TASK_STATUS_FAILED,
        isFinal: true,
        error: `the agent cannot write its task journal: ${(err as Error).message}`,
      });
      return;
    }
    this.stats.started++;
    const outcome = await this.execute(request, task);
    this.running.delete(taskId);
    await this.finish(taskId, outcome, task.controller.signal.reason as TaskAbortReason, task);
  }

  /** Runs the task under its timeout; an abort ends the wait after a grace even if run() hangs. */
  private async execute(request: TaskRequest, task: RunningTask): Promise<TaskOutcome> {
    const policy = this.deps.runner.policy();
    const timeoutS = Math.min(
      request.timeoutSeconds || policy.defaultTimeoutSeconds,
      policy.maxTimeoutSeconds,
    );
    const maxOutputBytes = Math.min(
      request.maxOutputBytes || policy.maxOutputBytes,
      policy.maxOutputBytes,
    );
    const { signal } = task.controller;
    const timer = setTimeout(() => task.controller.abort('timed_out'), timeoutS * 1000);
    const ctx: TaskContext = {
      signal,
      timeoutMs: timeoutS * 1000,
      maxOutputBytes,
      emit: (payload: TaskPayload) => this.emit(request.taskId, task, payload),
    };
    this.emit(request.taskId, task, undefined);
    let graceTimer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<TaskOutcome>((resolve) => {
      signal.addEventListener('abort', () => {
        graceTimer = setTimeout(
          () => resolve({ status: TaskStatus.TASK_STATUS_FAILED, error: 'did not stop in time' }),
          ABORT_GRACE_MS,
        );
      });
    });
    try {
      return await Promise.race([this.deps.runner.run(request, ctx), gaveUp]);
    } catch (err) {
      return { status: TaskStatus.TASK_STATUS_FAILED, error: (err as Error).message };
    } finally {
      clearTimeout(timer);
      clearTimeout(graceTimer);
    }
  }

  private emit(taskId: string, task: RunningTask, payload: TaskPayload): void {
    const response: TaskResponse = {
      ...emptyResponse(taskId),
      status: TaskStatus.TASK_STATUS_RUNNING,
      sequence: task.sequence + 1,
      response: payload,
    };
    if (payload && TaskResponse.encode(response).finish().length < SMALL_CHUNK_BYTES) {
      if (task.small >= MAX_CHUNKS_PER_TASK) {
        if (!task.cut) this.deps.log.warn({ taskId }, 'task output over the chunk cap; dropped');
        task.cut = true;
        this.stats.overChunks++;
        return;
      }
      task.small++;
    }
    task.sequence++;
    this.send(response);
  }

  /** Journals the final response, then sends it (it is resent until the server acknowledges it). */
  private async finish(
    taskId: string,
    outcome: TaskOutcome,
    aborted: TaskAbortReason | undefined,
    task?: RunningTask,
  ): Promise<void> {
    const final: TaskResponse = {
      ...emptyResponse(taskId),
      ...abortedOutcome(outcome, aborted),
      isFinal: true,
      truncated: (outcome.truncated ?? false) || task?.cut === true,
      sequence: task ? ++task.sequence : 1,
      cancelled: aborted === 'cancelled',
    };
    await this.deps.journal
      .finish(taskId, final)
      .catch((err: unknown) =>
        this.deps.log.error({ err, taskId }, 'cannot journal the outcome; sending it anyway'),
      );
    this.deps.log.info(
      { taskId, status: TaskStatus[final.status], error: final.error || undefined },
      'task finished',
    );
    this.send(final);
  }

  private send(response: TaskResponse): void {
    if (!this.deps.send(response)) this.stats.unsent++;
  }
}

/** An aborted task ends CANCELLED / TIMED_OUT / FAILED whatever run() said, keeping its payload. */
function abortedOutcome(
  outcome: TaskOutcome,
  aborted: TaskAbortReason | undefined,
): Pick<TaskResponse, 'status' | 'error' | 'truncated' | 'response'> {
  const base = {
    status: outcome.status,
    error: outcome.error ?? '',
    truncated: outcome.truncated ?? false,
    response: outcome.response,
  };
  if (aborted === 'cancelled') return { ...base, status: TaskStatus.TASK_STATUS_CANCELLED };
  if (aborted === 'timed_out')
    return {
      ...base,
      status: TaskStatus.TASK_STATUS_TIMED_OUT,
      error: 'the task ran past its timeout and was killed',
    };
  if (aborted === 'agent_stopping')
    return { ...base, status: TaskStatus.TASK_STATUS_FAILED, error: 'the agent was stopped' };
  return base;
}

function emptyResponse(taskId: string): TaskResponse {
  return {
    taskId,
    status: TaskStatus.TASK_STATUS_UNSPECIFIED,
    isFinal: false,
    cancelled: false,
    error: '',
    sequence: 0,
    truncated: false,
    response: undefined,
  };
}
