import type { TaskJson, TaskOutputJson, TaskOutputStream, TaskState } from '@tripwire/wire';
import { isFinalTaskState } from '@tripwire/wire';
import { type Pool, type Queryable, withTransaction } from './pool.js';
import { auditOutcome } from './task-dispatch.js';
import { RETURNING_TASK, SELECT_TASKS, type TaskRow, toTaskJson } from './task-rows.js';
import { canTransitionTask } from './task-states.js';

// What an agent sends about a task: output chunks, the start marker, the outcome. Stored
// idempotently: a chunk already stored (same task, sequence and stream) is skipped, and an
// outcome for a task already final is ignored, so the agent's at-least-once resends never
// double output or change an ended task.

/** The outcome statuses an agent may send (TaskStatus without UNSPECIFIED). */
export type AgentTaskStatus =
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'CANCELLED'
  | 'REFUSED';

export interface TaskOutputPiece {
  stream: TaskOutputStream;
  data: Buffer;
}

export interface AgentTaskResponse {
  hostId: string;
  taskId: string;
  status: AgentTaskStatus | 'UNSPECIFIED';
  isFinal: boolean;
  sequence: number;
  error?: string;
  truncated?: boolean;
  output: TaskOutputPiece[];
  exitCode?: number | null;
  result?: Record<string, unknown> | null;
}

export interface RecordedTaskResponse {
  /** The task as it stands now; null when the host has no such task (ignored). */
  task: TaskJson | null;
  /** The chunks stored by this response (none for a resend or past the cap). */
  outputs: TaskOutputJson[];
  /** This response moved the task to RUNNING. */
  started: boolean;
  /** This response ended the task. */
  finished: boolean;
  /** A final response for a task already final: ignored (but the agent may forget it). */
  duplicate: boolean;
}

export interface OutputCaps {
  /** file_fetch content kept per task (TASK_FETCH_MAX_BYTES). */
  fetchMaxBytes: number;
}

/** task_output.sequence and tasks.last_sequence are PostgreSQL integers. */
const MAX_SEQUENCE = 2 ** 31 - 1;

const COUNTER: Record<
  TaskOutputStream,
  'stdout_bytes' | 'stderr_bytes' | 'file_bytes' | 'listing_bytes'
> = {
  stdout: 'stdout_bytes',
  stderr: 'stderr_bytes',
  file: 'file_bytes',
  listing: 'listing_bytes',
};

/** Cuts text output at a character boundary, so stored text never ends in half a character. */
function cut(piece: TaskOutputPiece, room: number): Buffer {
  if (piece.data.length <= room) return piece.data;
  let end = room;
  if (piece.stream !== 'file') while (end > 0 && (piece.data[end]! & 0xc0) === 0x80) end--;
  return piece.data.subarray(0, end);
}

function room(row: TaskRow, stream: TaskOutputStream, caps: OutputCaps): number {
  if (stream === 'file') return Math.max(0, caps.fetchMaxBytes - row.file_bytes);
  return Math.max(
    0,
    row.max_output_bytes - row.stdout_bytes - row.stderr_bytes - row.listing_bytes,
  );
}

async function storeChunks(
  db: Queryable,
  row: TaskRow,
  r: AgentTaskResponse,
  caps: OutputCaps,
): Promise<{ outputs: TaskOutputJson[]; truncated: boolean }> {
  const outputs: TaskOutputJson[] = [];
  let truncated = false;
  // Sequence 0 is an outcome written after an agent restart: it carries no output. One past
  // PostgreSQL's integer (the wire's is uint32) is no agent's count: its chunks are dropped,
  // rather than failing the write and the stream with it on every resend.
  if (r.sequence < 1 || r.sequence > MAX_SEQUENCE) return { outputs, truncated };
  for (const piece of r.output) {
    if (piece.data.length === 0) continue;
    const data = cut(piece, room(row, piece.stream, caps));
    if (data.length < piece.data.length) truncated = true;
    if (data.length === 0) continue;
    const offset = row[COUNTER[piece.stream]];
    const inserted = await db.query(
      `INSERT INTO task_output (task_id, sequence, stream, "offset", data) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [row.task_id, r.sequence, piece.stream, offset, data],
    );
    if (!inserted.rowCount) continue;
    row[COUNTER[piece.stream]] += data.length;
    outputs.push({
      task_id: row.task_id,
      sequence: r.sequence,
      stream: piece.stream,
      offset,
      bytes: data.length,
      text: piece.stream === 'file' ? null : data.toString('utf8'),
    });
  }
  return { outputs, truncated };
}

/** The state a final response moves the task to; a final without an outcome is a failure. */
function outcomeOf(r: AgentTaskResponse): { state: TaskState; error: string | null } {
  if (r.status === 'RUNNING' || r.status === 'UNSPECIFIED')
    return { state: 'FAILED', error: 'the agent sent a final response without an outcome' };
  return { state: r.status, error: r.error || null };
}

async function lockHostTask(
  db: Queryable,
  hostId: string,
  taskId: string,
): Promise<TaskRow | null> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(taskId)) return null;
  const { rows } = await db.query<TaskRow>(
    `${SELECT_TASKS} WHERE tasks.task_id = $1 AND tasks.host_id = $2 FOR UPDATE OF tasks`,
    [taskId, hostId],
  );
  return rows[0] ?? null;
}

/** Stores one agent response (chunks, start, outcome) in one transaction. */
export async function recordTaskResponse(
  pool: Pool,
  r: AgentTaskResponse,
  caps: OutputCaps,
): Promise<RecordedTaskResponse> {
  return withTransaction(pool, async (db) => {
    const row = await lockHostTask(db, r.hostId, r.taskId);
    // A task never sent (QUEUED, AWAITING_APPROVAL) is not the agent's to report on: a forged
    // outcome would end a shell task still waiting for its approval.
    if (!row || row.state === 'QUEUED' || row.state === 'AWAITING_APPROVAL')
      return { task: null, outputs: [], started: false, finished: false, duplicate: false };
    if (isFinalTaskState(row.state))
      return {
        task: toTaskJson(row),
        outputs: [],
        started: false,
        finished: false,
        duplicate: r.isFinal,
      };
    const { outputs, truncated } = await storeChunks(db, row, r, caps);
    const started = row.state === 'DISPATCHED' && r.status === 'RUNNING' && !r.isFinal;
    const outcome = r.isFinal ? outcomeOf(r) : null;
    if (outcome && !canTransitionTask(row.state, outcome.state)) outcome.state = 'FAILED';
    if (!outputs.length && !truncated && !started && !outcome)
      return { task: toTaskJson(row), outputs, started, finished: false, duplicate: false };
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks SET
         stdout_bytes = $2, stderr_bytes = $3, file_bytes = $4, listing_bytes = $5,
         truncated = truncated OR $6,
         last_sequence = greatest(last_sequence, $7),
         state = coalesce($8::task_state, CASE WHEN $9 THEN 'RUNNING'::task_state ELSE state END),
         started_at = CASE WHEN $9 THEN now() ELSE started_at END,
         finished_at = CASE WHEN $8::task_state IS NOT NULL THEN now() ELSE finished_at END,
         error = coalesce($10, error), exit_code = coalesce($11, exit_code), result = coalesce($12::jsonb, result),
         version = version + 1, updated_at = now()
       WHERE task_id = $1 ${RETURNING_TASK}`,
      [
        row.task_id,
        row.stdout_bytes,
        row.stderr_bytes,
        row.file_bytes,
        row.listing_bytes,
        truncated || (outcome !== null && r.truncated === true),
        Math.min(r.sequence, MAX_SEQUENCE),
        outcome?.state ?? null,
        started,
        outcome?.error ?? null,
        outcome ? (r.exitCode ?? null) : null,
        outcome && r.result ? JSON.stringify(r.result) : null,
      ],
    );
    const task = toTaskJson(rows[0]!);
    if (outcome) await auditOutcome(db, task, `agent:${task.host_id}`);
    return { task, outputs, started, finished: outcome !== null, duplicate: false };
  });
}
