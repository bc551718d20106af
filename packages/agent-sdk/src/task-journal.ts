import { readFile } from 'node:fs/promises';
import { TaskResponse, TaskStatus } from '@tripwire/proto';
import { writeFileAtomic } from './atomic-file.js';

/** Task ids remembered (running, finished, reported): a redelivery of any of them is not run again. */
export const JOURNAL_MAX_TASKS = 2_000;
/** A final response bigger than this is journaled without its payload (its status and error kept). */
export const JOURNAL_MAX_OUTCOME_BYTES = 256 * 1024;
export const AGENT_RESTARTED = 'agent restarted while the task was running';

interface JournalEntry {
  taskId: string;
  startedAt: string;
  finishedAt?: string;
  /** The final TaskResponse, protobuf, base64; removed once the server acknowledged it. */
  outcome?: string;
  acked?: boolean;
}

export type JournalState = 'running' | 'finished' | 'acked';

/**
 * The tasks this agent started, in the state folder (`tasks.json`, 0600, replaced atomically
 * like credentials.json). A task is journaled as running before it starts, and its final
 * response is written before it is sent, so after a crash or `kill -9` the agent knows every
 * task it may have run: it reports the outcome (or FAILED "agent restarted") until the server
 * acknowledges it, and never runs a redelivered task id twice.
 */
export class TaskJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private writes: Promise<void> = Promise.resolve();
  /** A write that has not started yet: later changes join it. */
  private queued: Promise<void> | undefined;

  constructor(readonly path: string) {}

  /** Reads the file; tasks that were running when the agent stopped are ended FAILED. */
  async load(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text === undefined) return;
    let data: { tasks?: JournalEntry[] };
    try {
      data = JSON.parse(text) as { tasks?: JournalEntry[] };
    } catch {
      throw new Error(`${this.path} is not valid JSON; remove it to start over`);
    }
    for (const e of data.tasks ?? []) {
      if (typeof e?.taskId !== 'string') continue;
      this.entries.set(e.taskId, e);
      if (e.outcome === undefined && !e.acked) this.finishEntry(e, restartedOutcome(e.taskId));
    }
    await this.save();
  }

  state(taskId: string): JournalState | undefined {
    const e = this.entries.get(taskId);
    if (!e) return undefined;
    if (e.acked) return 'acked';
    return e.outcome === undefined ? 'running' : 'finished';
  }

  /** Journals the task as running; resolves once that is on disk (the task may start then). */
  begin(taskId: string): Promise<void> {
    this.entries.set(taskId, { taskId, startedAt: new Date().toISOString() });
    this.forgetOldest();
    return this.save();
  }

  /** Journals the final response; resolves once it is on disk (it may be sent then). */
  finish(taskId: string, outcome: TaskResponse): Promise<void> {
    const e = this.entries.get(taskId) ?? { taskId, startedAt: new Date().toISOString() };
    this.entries.set(taskId, e);
    this.finishEntry(e, outcome);
    // Refusals and cancels of unseen ids come here without begin(): bounded here too, or a
    // server sending ids the policy refuses would grow the journal (and each rewrite) forever.
    this.forgetOldest();
    return this.save();
  }

  /** The server stored these outcomes: keep only the ids (to refuse redeliveries). */
  acknowledge(taskIds: readonly string[]): Promise<void> {
    let changed = false;
    for (const id of taskIds) {
      const e = this.entries.get(id);
      if (!e || e.outcome === undefined) continue;
      e.outcome = undefined;
      e.acked = true;
      changed = true;
    }
    return changed ? this.save() : this.writes;
  }

  outcome(taskId: string): TaskResponse | undefined {
    const text = this.entries.get(taskId)?.outcome;
    return text === undefined ? undefined : TaskResponse.decode(Buffer.from(text, 'base64'));
  }

  /** Final responses the server has not acknowledged, oldest first: resent on every new stream. */
  unacknowledged(): TaskResponse[] {
    const out: TaskResponse[] = [];
    for (const e of this.entries.values()) {
      if (e.outcome !== undefined) out.push(TaskResponse.decode(Buffer.from(e.outcome, 'base64')));
    }
    return out;
  }

  /** Waits for the writes queued so far. */
  settled(): Promise<void> {
    return this.writes;
  }

  private finishEntry(e: JournalEntry, outcome: TaskResponse): void {
    let bytes = TaskResponse.encode(outcome).finish();
    if (bytes.length > JOURNAL_MAX_OUTCOME_BYTES)
      bytes = TaskResponse.encode({
        ...outcome,
        response: undefined,
        error: outcome.error || 'the result was too large to keep for a resend',
      }).finish();
    e.outcome = Buffer.from(bytes).toString('base64');
    e.finishedAt = new Date().toISOString();
  }

  /** Bounded: the oldest acknowledged ids go first, then the oldest finished ones. */
  private forgetOldest(): void {
    if (this.entries.size <= JOURNAL_MAX_TASKS) return;
    for (const pass of ['acked', 'finished'] as const) {
      for (const [id, e] of this.entries) {
        if (this.entries.size <= JOURNAL_MAX_TASKS) return;
        const gone = pass === 'acked' ? e.acked : e.outcome !== undefined;
        if (gone) this.entries.delete(id);
      }
    }
  }

  /**
   * Writes one after another, each a whole new file taken when the write starts; changes made
   * while a write waits share it (a burst of tasks costs one write, not one each).
   */
  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const write = this.writes.then(() => {
      this.queued = undefined;
      return writeFileAtomic(
        this.path,
        `${JSON.stringify({ tasks: [...this.entries.values()] })}\n`,
      );
    });
    this.queued = write;
    this.writes = write.catch(() => {});
    return write;
  }
}

function restartedOutcome(taskId: string): TaskResponse {
  return {
    taskId,
    status: TaskStatus.TASK_STATUS_FAILED,
    isFinal: true,
    cancelled: false,
    error: AGENT_RESTARTED,
    sequence: 0,
    truncated: false,
    response: undefined,
  };
}
