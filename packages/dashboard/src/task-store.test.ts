import { describe, expect, it } from 'vitest';
import { TaskStore } from './task-store.js';
import type { TaskJson } from './task-types.js';

const task = (over: Partial<TaskJson> = {}): TaskJson => ({
  task_id: 't1',
  host_id: 'h1',
  hostname: 'web-01',
  action: 'shell_execute',
  parameters: { cmd: 'ls' },
  state: 'QUEUED',
  error: null,
  result: null,
  truncated: false,
  timeout_seconds: 60,
  expires_at: '2026-12-06T00:00:00Z',
  alert_id: null,
  incident_id: null,
  created_by: 'operator:ada',
  created_at: '2026-12-05T10:00:00Z',
  approved_by: null,
  approved_at: null,
  cancelled_by: null,
  started_at: null,
  finished_at: null,
  revision: 1,
  ...over,
});

describe('TaskStore', () => {
  it('keeps the highest revision, whichever order copies arrive in', () => {
    const store = new TaskStore({ state: [], action: [], host: null });
    store.apply(task({ state: 'RUNNING', revision: 3 }));
    expect(store.apply(task({ state: 'QUEUED', revision: 2 }))).toBe(false);
    store.addPage([task({ state: 'DISPATCHED', revision: 2 })], null);
    expect(store.get('t1')?.state).toBe('RUNNING');
    expect(store.rows.map((r) => r.state)).toEqual(['RUNNING']);
  });

  it('drops a task from the rows when it leaves the filter', () => {
    const store = new TaskStore({ state: ['RUNNING'], action: [], host: null });
    store.apply(task({ state: 'RUNNING', revision: 2 }));
    store.apply(task({ state: 'SUCCEEDED', revision: 3 }));
    expect(store.rows).toEqual([]);
    expect(store.get('t1')?.state).toBe('SUCCEEDED');
  });

  it('keeps each output chunk once, in sequence order', () => {
    const store = new TaskStore({ state: [], action: [], host: null });
    const out = store.output('t1');
    const chunk = (sequence: number, text: string) => ({
      event: 'output' as const,
      task_id: 't1',
      host_id: 'h1',
      chunk: { sequence, stream: 'stdout' as const, text },
    });
    store.applyEvent(chunk(3, 'c'));
    store.addOutput('t1', [
      { sequence: 2, stream: 'stdout', text: 'b' },
      { sequence: 3, stream: 'stdout', text: 'c' },
    ]);
    expect(store.applyEvent(chunk(2, 'b'))).toBe(false);
    store.applyEvent(chunk(4, 'd'));
    expect(out.list.map((c) => c.text).join('')).toBe('bcd');
  });
});
