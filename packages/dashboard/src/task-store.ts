// The tasks the console knows: the Tasks page's rows under its filter, every task at its highest
// revision (the detail panel reads it), and each watched task's output. Filled from
// GET /api/tasks and GET /api/tasks/{id}/output and kept current by `task` frames, which may
// repeat (a resume, two publishers) or overtake a page: a copy is taken only when its revision
// is higher, a chunk only once per sequence number. Plain TypeScript, like IncidentStore.
import { ChangeNotifier } from './change-notifier.js';
import type {
  TaskAction,
  TaskEventData,
  TaskJson,
  TaskOutputChunk,
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

export class TaskOutput {
  /** By sequence number; a chunk seen twice is kept once. */
  private readonly chunks = new Map<number, TaskOutputChunk>();
  private sorted: TaskOutputChunk[] | null = [];

  add(chunk: TaskOutputChunk): boolean {
    if (this.chunks.has(chunk.sequence)) return false;
    this.chunks.set(chunk.sequence, chunk);
    this.sorted = null;
    return true;
  }

  /** In sequence order, whatever order they arrived in. */
  get list(): TaskOutputChunk[] {
    this.sorted ??= [...this.chunks.values()].sort((a, b) => a.sequence - b.sequence);
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
    if (data.event === 'output') {
      // Only tasks someone looks at keep output: the list never needs it.
      const out = this.outputs.get(data.task_id);
      if (!out?.add(data.chunk)) return false;
      this.changed();
      return true;
    }
    return this.apply(data.task);
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

  addOutput(id: string, chunks: TaskOutputChunk[]) {
    const out = this.output(id);
    let added = false;
    for (const c of chunks) added = out.add(c) || added;
    if (added) this.changed();
  }

  private take(task: TaskJson): boolean {
    const held = this.known.get(task.task_id);
    if (held && held.revision >= task.revision) return false;
    this.known.set(task.task_id, task);
    return true;
  }
}
