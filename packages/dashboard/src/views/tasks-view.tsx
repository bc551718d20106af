import { useState } from 'preact/hooks';
import type { Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { actorName, formatTime } from '../format.js';
import type { TaskQuery } from '../task-store.js';
import { TASK_ACTIONS, TASK_STATES, type TaskAction, type TaskJson } from '../task-types.js';
import { navigate, searchFromTaskFilter } from '../url-state.js';
import { FilterChips } from './filter-chips.js';
import { HostFilter } from './host-options.js';
import { RespondForm } from './respond-form.js';
import { TaskDetail } from './task-detail.js';
import { TaskStateBadge } from './task-state-badge.js';

/** Response actions: every task under the filter, live; the open one's panel beside them. */
export function TasksView(props: {
  state: ConsoleState;
  filter: TaskQuery;
  taskId: string | null;
  operator: Operator;
}) {
  const { state, filter, taskId, operator } = props;
  const [responding, setResponding] = useState(false);
  const open = (id: string | null) => navigate(`/tasks${searchFromTaskFilter(filter, id)}`);
  const host = filter.host ? state.hosts.get(filter.host) : undefined;
  return (
    <div
      class={`incidents-view${taskId || responding ? ' with-detail' : ''}`}
      data-testid="tasks-view"
    >
      <TaskFilterBar state={state} filter={filter} />
      <div class="table-toolbar">
        <span class="count" data-testid="task-count">
          {state.tasks.rows.length.toLocaleString()}{' '}
          {state.tasks.rows.length === 1 ? 'task' : 'tasks'}
        </span>
        {filter.host && operator.role !== 'viewer' && (
          <button type="button" onClick={() => setResponding(true)}>
            Respond on {host?.hostname ?? 'this host'}
          </button>
        )}
      </div>
      <TaskTable state={state} selectedId={taskId} onOpen={open} />
      {responding && filter.host ? (
        <aside class="detail">
          <RespondForm
            hostId={filter.host}
            hostname={host?.hostname ?? filter.host}
            operator={operator}
            onCreated={(t) => {
              state.tasks.apply(t);
              setResponding(false);
              open(t.task_id);
            }}
            onClose={() => setResponding(false)}
          />
        </aside>
      ) : (
        taskId && (
          <TaskDetail
            key={taskId}
            id={taskId}
            state={state}
            operator={operator}
            onClose={() => open(null)}
          />
        )
      )}
    </div>
  );
}

function TaskFilterBar({ state, filter }: { state: ConsoleState; filter: TaskQuery }) {
  const apply = (next: TaskQuery) => navigate(`/tasks${searchFromTaskFilter(next)}`);
  return (
    <div class="filter-bar" role="group" aria-label="Filter tasks">
      <fieldset>
        <legend>State</legend>
        <FilterChips
          name="state"
          values={TASK_STATES}
          selected={filter.state}
          onChange={(s) => apply({ ...filter, state: s })}
          label={(s) => s.replace(/_/g, ' ')}
        />
      </fieldset>
      <label>
        Action
        <select
          name="action"
          value={filter.action[0] ?? ''}
          onChange={(e) => {
            const v = e.currentTarget.value as TaskAction | '';
            apply({ ...filter, action: v ? [v] : [] });
          }}
        >
          <option value="">All actions</option>
          {TASK_ACTIONS.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
      </label>
      <HostFilter
        value={filter.host}
        hosts={state.hosts}
        onChange={(h) => apply({ ...filter, host: h })}
      />
    </div>
  );
}

function TaskTable(props: {
  state: ConsoleState;
  selectedId: string | null;
  onOpen: (id: string) => void;
}) {
  const { state, selectedId } = props;
  const store = state.tasks;
  let footer: preact.ComponentChildren = null;
  if (state.tasksError) footer = `Could not load tasks: ${state.tasksError}`;
  else if (!store.loaded) footer = 'Loading tasks…';
  else if (store.nextCursor)
    footer = (
      <button
        type="button"
        class="link"
        disabled={state.loadingTasks}
        onClick={() => void state.loadTasks()}
      >
        Load more
      </button>
    );
  else if (store.rows.length === 0) footer = 'No tasks match this filter.';
  return (
    <div class="incident-table">
      <table class="grid" data-testid="tasks" aria-label="Tasks">
        <thead>
          <tr>
            <th>State</th>
            <th>Action</th>
            <th>Host</th>
            <th>By</th>
            <th>Created</th>
            <th>Finished</th>
          </tr>
        </thead>
        <tbody>
          {store.rows.map((t: TaskJson) => (
            <tr
              key={t.task_id}
              data-task-id={t.task_id}
              data-state={t.state}
              class={t.task_id === selectedId ? 'selected' : ''}
              aria-selected={t.task_id === selectedId}
              onClick={() => props.onOpen(t.task_id)}
            >
              <td>
                <TaskStateBadge state={t.state} />
              </td>
              <td>
                <button
                  type="button"
                  class="link mono"
                  aria-label={`Task ${t.action} on ${t.hostname}`}
                  onClick={(e) => {
                    e.stopPropagation();
                    props.onOpen(t.task_id);
                  }}
                >
                  {t.action}
                </button>
              </td>
              <td>{t.hostname || t.host_id.slice(0, 8)}</td>
              <td>{actorName(t.created_by)}</td>
              <td title={t.created_at}>{formatTime(t.created_at)}</td>
              <td title={t.finished_at ?? ''}>{formatTime(t.finished_at)}</td>
            </tr>
          ))}
          {footer && (
            <tr class="footer">
              <td colSpan={6} class="muted" data-testid="tasks-footer">
                {footer}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
