import { describe, expect, it } from 'vitest';
import { TaskStore } from './task-store.js';
import type { TaskJson, TaskOutputJson } from './task-types.js';

export const taskJson = (over: Partial<TaskJson> = {}): TaskJson => ({
  task_id: 't1',
  host_id: 'h1',
  hostname: 'web-01',
  action: 'shell_execute',
  parameters: { cmd: 'ls' },
  state: 'QUEUED',
  created_by: 'operator:ada',
  approved_by: null,
  cancel_requested_by: null,
  cancel_reason: null,
  alert_id: null,
  incident_id: null,
  timeout_s: 60,
  max_output_bytes: 1 << 20,
  expires_at: '2026-12-06T00:00:00Z',
  created_at: '2026-12-05T10:00:00Z',
  approved_at: null,
  dispatched_at: null,
  started_at: null,
  finished_at: null,
  dispatch_count: 0,
  exit_code: null,
  error: null,
  stdout_bytes: 0,
  stderr_bytes: 0,
  file_bytes: 0,
  listing_bytes: 0,
  truncated: false,
  result: null,
  version: 1,
  ...over,
});

const output = (sequence: number, text: string): TaskOutputJson => ({
  task_id: 't1',
  sequence,
  stream: 'stdout',
  offset: 0,
  bytes: text.length,
  text,
});

describe('TaskStore', () => {
  it('keeps the highest version, whichever order copies arrive in', () => {
    const store = new TaskStore({ state: [], action: [], host: null });
    store.apply(taskJson({ state: 'RUNNING', version: 3 }));
    expect(store.apply(taskJson({ state: 'QUEUED', version: 2 }))).toBe(false);
    store.addPage([taskJson({ state: 'DISPATCHED', version: 2 })], null);
    expect(store.get('t1')?.state).toBe('RUNNING');
    expect(store.rows.map((r) => r.state)).toEqual(['RUNNING']);
  });

  it('drops a task from the rows when it leaves the filter', () => {
    const store = new TaskStore({ state: ['RUNNING'], action: [], host: null });
    store.apply(taskJson({ state: 'RUNNING', version: 2 }));
    store.apply(taskJson({ state: 'SUCCEEDED', version: 3 }));
    expect(store.rows).toEqual([]);
    expect(store.get('t1')?.state).toBe('SUCCEEDED');
  });

  it('keeps each output chunk once, in sequence order, for a watched task only', () => {
    const store = new TaskStore({ state: [], action: [], host: null });
    const frame = (sequence: number, text: string) => ({
      event: 'output' as const,
      task: taskJson({ state: 'RUNNING', version: 10 + sequence }),
      output: output(sequence, text),
    });
    store.applyEvent(frame(1, 'unwatched'));
    const out = store.output('t1');
    store.applyEvent(frame(3, 'c'));
    store.addOutput('t1', [output(2, 'b'), output(3, 'c')]);
    // A repeat of a frame (a resume): neither the task nor the output changes.
    expect(store.applyEvent(frame(3, 'c'))).toBe(false);
    store.applyEvent(frame(4, 'd'));
    expect(out.list.map((c) => c.text).join('')).toBe('bcd');
    // Closed: nothing is kept for it any more, and later chunks are not collected.
    store.forgetOutput('t1');
    store.applyEvent(frame(5, 'e'));
    expect(store.output('t1').list).toEqual([]);
  });
});
