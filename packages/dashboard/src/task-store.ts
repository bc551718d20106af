// The tasks the console knows: the Tasks page's rows under its filter, every task at its highest
// version (the detail panel reads it), and each watched task's output. Filled from
// GET /api/tasks and GET /api/tasks/{id}/output and kept current by `task` frames, which may
// repeat (a resume, two publishers) or overtake a page: a copy is taken only when its version
// is higher, a chunk only once per (sequence, stream). Plain TypeScript, like IncidentStore.
import { ChangeNotifier } from './change-notifier.js';
import type {
  TaskAction,
  TaskEventData,
  TaskJson,
  TaskOutputJson,
  TaskState,
} from './task-types.js';

export interface TaskQuery {
  state: TaskState[];
  action: TaskAction[];
  host: string | null;
}

export const matchesTaskFilter = (f: TaskQuery, t: TaskJson) =>
  (f.state.length === 0 || f.state.includes(t.state)) &&
  (f.action.length === 0 || f.action.includes(t.action)) &&
  (!f.host || f.host === t.host_id);

/** Newest first (ids break ties, for a stable order). */
const newestFirst = (a: TaskJson, b: TaskJson) =>
  Date.parse(b.created_at) - Date.parse(a.created_at) || (a.task_id < b.task_id ? 1 : -1);

const STREAM_ORDER = { stdout: 0, stderr: 1, listing: 2, file: 3 } as const;

export class TaskOutput {
  /** By (sequence, stream), the chunk's identity in storage; a chunk seen twice is kept once. */
  private readonly chunks = new Map<string, TaskOutputJson>();
  private sorted: TaskOutputJson[] | null = [];

  add(chunk: TaskOutputJson): boolean {
    const key = `${chunk.sequence}/${chunk.stream}`;
    if (this.chunks.has(key)) return false;
    this.chunks.set(key, chunk);
    this.sorted = null;
    return true;
  }

  /** In the agent's order, whatever order they arrived in. */
  get list(): TaskOutputJson[] {
    this.sorted ??= [...this.chunks.values()].sort(
      (a, b) => a.sequence - b.sequence || STREAM_ORDER[a.stream] - STREAM_ORDER[b.stream],
    );
    return this.sorted;
  }
}

export class TaskStore extends ChangeNotifier {
  rows: TaskJson[] = [];
  loaded = false;
  nextCursor: string | null = null;
  generation = 0;
  private readonly known = new Map<string, TaskJson>();
  private readonly outputs = new Map<string, TaskOutput>();

  constructor(public filter: TaskQuery) {
    super();
  }

  get(id: string): TaskJson | undefined {
    return this.known.get(id);
  }

  /** The output held for a task (created empty on first ask: frames then fill it). */
  output(id: string): TaskOutput {
    let out = this.outputs.get(id);
    if (!out) {
      out = new TaskOutput();
      this.outputs.set(id, out);
    }
    return out;
  }

  /** The panel closed: its output is dropped (read again from the API if it opens again). */
  forgetOutput(id: string) {
    this.outputs.delete(id);
  }

  reset(filter: TaskQuery) {
    this.filter = filter;
    this.rows = [];
    this.loaded = false;
    this.nextCursor = null;
    this.generation++;
    this.changed();
  }

  /** A page from GET /api/tasks (newest first); a newer copy already held wins. */
  addPage(tasks: TaskJson[], nextCursor: string | null) {
    for (const t of tasks) this.take(t);
    const ids = new Set(this.rows.map((r) => r.task_id));
    for (const t of tasks) if (!ids.has(t.task_id)) this.rows.push(this.known.get(t.task_id)!);
    this.rows = this.rows.filter((r) => matchesTaskFilter(this.filter, r)).sort(newestFirst);
    this.nextCursor = nextCursor;
    this.loaded = true;
    this.changed();
  }

  /** A task frame's data; false when it changed nothing (a repeat or an older copy). */
  applyEvent(data: TaskEventData): boolean {
    // Only tasks someone looks at keep output: the list never needs it.
    const chunkAdded =
      data.output !== undefined && (this.outputs.get(data.task.task_id)?.add(data.output) ?? false);
    const taskNewer = this.apply(data.task);
    if (chunkAdded && !taskNewer) this.changed();
    return chunkAdded || taskNewer;
  }

  apply(task: TaskJson): boolean {
    if (!this.take(task)) return false;
    const rows = this.rows.filter((r) => r.task_id !== task.task_id);
    // A new task shows at the top; past the loaded pages it would only arrive with its page.
    if (matchesTaskFilter(this.filter, task)) rows.push(task);
    this.rows = rows.sort(newestFirst);
    this.changed();
    return true;
  }

  /** A page of stored output, for a task someone still looks at (else dropped). */
  addOutput(id: string, chunks: TaskOutputJson[]) {
    const out = this.outputs.get(id);
    if (!out) return;
    let added = false;
    for (const c of chunks) added = out.add(c) || added;
    if (added) this.changed();
  }

  private take(task: TaskJson): boolean {
    const held = this.known.get(task.task_id);
    if (held && held.version >= task.version) return false;
    this.known.set(task.task_id, task);
    return true;
  }
}
