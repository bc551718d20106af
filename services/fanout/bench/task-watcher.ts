/**
 * The task benchmark's watching browser: one WebSocket on /ws/alerts subscribed to `task`
 * frames (as the dashboard's console is), made with the `ws` package. It notes when each task
 * was first seen in each state and hands every output chunk, with its receipt time, to whoever
 * follows that task. And a counter of one host's alert frames.
 */
import WebSocket from 'ws';
import { isAlertFrame, isWelcomeFrame, nowUs } from './alert-frame.js';

export const FINAL_STATES = new Set([
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'EXPIRED',
  'REFUSED',
]);

export interface TaskOutputFrame {
  sequence: number;
  stream: string;
  bytes: number;
  text: string | null;
}

interface TaskFrame {
  type: string;
  data?: {
    event: string;
    task: { task_id: string; state: string; truncated?: boolean; error?: string | null };
    output?: TaskOutputFrame;
  };
}

export interface TaskSeen {
  /** First receipt (µs since the epoch) of a frame showing the task in each state. */
  states: Map<string, number>;
  final: { state: string; atUs: number; truncated: boolean; error: string | null } | null;
}

type OutputListener = (output: TaskOutputFrame, atUs: number) => void;

function open(url: string, onFrame: (data: Buffer, atUs: number) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let welcomed = false;
    ws.on('message', (data: Buffer) => {
      const atUs = nowUs();
      if (!welcomed) {
        welcomed = isWelcomeFrame(data);
        if (welcomed) resolve(ws);
        return;
      }
      onFrame(data, atUs);
    });
    ws.on('error', (err) => {
      if (!welcomed) reject(err);
    });
    ws.on('close', (code) => {
      if (!welcomed) reject(new Error(`closed (${code}) before the welcome frame`));
    });
  });
}

export class TaskWatcher {
  private readonly tasks = new Map<string, TaskSeen>();
  private readonly outputListeners = new Map<string, OutputListener>();
  /** Output of tasks nobody follows yet (a chunk may beat the POST's answer here). */
  private readonly unfollowed = new Map<string, Array<[TaskOutputFrame, number]>>();
  private readonly finalWaiters = new Map<string, () => void>();
  frames = 0;

  private constructor() {}

  static async connect(url: string): Promise<{ watcher: TaskWatcher; ws: WebSocket }> {
    const watcher = new TaskWatcher();
    const ws = await open(url, (data, atUs) => watcher.onFrame(data, atUs));
    return { watcher, ws };
  }

  seen(taskId: string): TaskSeen {
    let seen = this.tasks.get(taskId);
    if (!seen) {
      seen = { states: new Map(), final: null };
      this.tasks.set(taskId, seen);
    }
    return seen;
  }

  /** Every output chunk of `taskId`: those already received, then each as it comes. */
  follow(taskId: string, listener: OutputListener): void {
    for (const [output, atUs] of this.unfollowed.get(taskId) ?? []) listener(output, atUs);
    this.unfollowed.delete(taskId);
    this.outputListeners.set(taskId, listener);
  }

  /** Resolves once a final state of the task was seen (or after `timeoutMs`, as it stands). */
  final(taskId: string, timeoutMs: number): Promise<TaskSeen> {
    const seen = this.seen(taskId);
    if (seen.final) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.finalWaiters.delete(taskId);
        resolve(seen);
      }, timeoutMs);
      this.finalWaiters.set(taskId, () => {
        clearTimeout(timer);
        resolve(seen);
      });
    });
  }

  private onOutput(taskId: string, output: TaskOutputFrame, atUs: number): void {
    const listener = this.outputListeners.get(taskId);
    if (listener) listener(output, atUs);
    else {
      const held = this.unfollowed.get(taskId) ?? [];
      held.push([output, atUs]);
      this.unfollowed.set(taskId, held);
    }
  }

  private onFrame(data: Buffer, atUs: number): void {
    const frame = JSON.parse(data.toString()) as TaskFrame;
    if (frame.type !== 'task' || !frame.data) return;
    this.frames++;
    const { task, output } = frame.data;
    const seen = this.seen(task.task_id);
    if (!seen.states.has(task.state)) seen.states.set(task.state, atUs);
    if (output) this.onOutput(task.task_id, output, atUs);
    if (FINAL_STATES.has(task.state) && !seen.final) {
      seen.final = {
        state: task.state,
        atUs,
        truncated: task.truncated === true,
        error: task.error ?? null,
      };
      this.finalWaiters.get(task.task_id)?.();
      this.finalWaiters.delete(task.task_id);
    }
  }
}

/** Receipt times (µs since the epoch) of the alert frames a socket gets. */
export async function countAlertFrames(url: string): Promise<{ times: number[]; ws: WebSocket }> {
  const times: number[] = [];
  const ws = await open(url, (data, atUs) => {
    if (isAlertFrame(data)) times.push(atUs);
  });
  return { times, ws };
}
