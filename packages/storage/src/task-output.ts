import type { TaskOutputJson, TaskOutputStream } from '@tripwire/wire';
import type { Queryable } from './pool.js';

interface OutputRow {
  task_id: string;
  sequence: number;
  stream: TaskOutputStream;
  offset: number;
  data: Buffer;
}

/**
 * A task's stored output in sequence order, after `afterSequence` (0: from the start), at
 * most `limit` chunks. File content is left out of `text` (read it with readTaskFile).
 */
export async function listTaskOutput(
  db: Queryable,
  taskId: string,
  afterSequence = 0,
  limit = 1000,
): Promise<TaskOutputJson[]> {
  const { rows } = await db.query<OutputRow>(
    `SELECT task_id, sequence, stream, "offset",
       CASE WHEN stream = 'file' THEN ''::bytea ELSE data END AS data, octet_length(data) AS bytes
     FROM task_output WHERE task_id = $1 AND sequence > $2 ORDER BY sequence, stream LIMIT $3`,
    [taskId, afterSequence, limit],
  );
  return rows.map((r) => ({
    task_id: r.task_id,
    sequence: r.sequence,
    stream: r.stream,
    offset: r.offset,
    bytes: Number((r as unknown as { bytes: number }).bytes),
    text: r.stream === 'file' ? null : r.data.toString('utf8'),
  }));
}

/** The content a file_fetch task stored, in order (empty when none). */
export async function readTaskFile(db: Queryable, taskId: string): Promise<Buffer> {
  const { rows } = await db.query<{ data: Buffer }>(
    `SELECT data FROM task_output WHERE task_id = $1 AND stream = 'file' ORDER BY "offset"`,
    [taskId],
  );
  return Buffer.concat(rows.map((r) => r.data));
}

/**
 * A file_fetch task's content from `fromOffset` on, at most `limit` chunks (each ≤ 64 KiB as
 * the agent sent them), for streaming a download without holding the whole file in memory.
 */
export async function readTaskFilePage(
  db: Queryable,
  taskId: string,
  fromOffset: number,
  limit = 16,
): Promise<Array<{ offset: number; data: Buffer }>> {
  const { rows } = await db.query<{ offset: string; data: Buffer }>(
    `SELECT "offset", data FROM task_output
     WHERE task_id = $1 AND stream = 'file' AND "offset" >= $2 ORDER BY "offset" LIMIT $3`,
    [taskId, fromOffset, limit],
  );
  return rows.map((r) => ({ offset: Number(r.offset), data: r.data }));
}
