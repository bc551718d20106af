import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { actorName, formatTime } from '../format.js';
import { outputRuns } from '../task-output-text.js';
import { isFinalTaskState, type TaskJson } from '../task-types.js';
import { TaskStateBadge } from './task-state-badge.js';

/** A task's state, parameters, people and output, live; cancel and approve by role. */
export function TaskDetail(props: {
  id: string;
  state: ConsoleState;
  operator: Operator;
  onClose: () => void;
}) {
  const { id, state } = props;
  const store = state.tasks;
  const task = store.get(id);
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    // The output holder exists before the request, so chunks arriving meanwhile are kept;
    // the page and the frames then merge by sequence number.
    store.output(id);
    setLoadError(null);
    api.task(id).then(
      (r) => store.apply(r.task),
      (e: unknown) => setLoadError(e instanceof Error ? e.message : String(e)),
    );
    void loadOutput(id, store);
    // Output is kept only while someone looks at it: a console open for days stays small.
    return () => store.forgetOutput(id);
    // Again after a reload of the tasks (a resume that could not replay task frames).
  }, [id, store.generation]);

  return (
    <aside class="detail task-detail" aria-label="Task detail" data-testid="task-detail">
      <header>
        {task && <TaskStateBadge state={task.state} />}
        <h2 class="detail-title">{task ? `${task.action} on ${task.hostname}` : 'Task'}</h2>
        <button type="button" class="ghost" onClick={props.onClose} aria-label="Close detail">
          ✕
        </button>
      </header>
      {loadError && !task && <p class="error">{loadError}</p>}
      {task && <TaskFacts task={task} />}
      {task && <TaskButtons task={task} state={state} operator={props.operator} />}
      <h3>Output</h3>
      {task?.action === 'file_fetch' && task.state === 'SUCCEEDED' && (
        <p>
          <a href={api.taskDownloadUrl(id)} download data-testid="download">
            Download the fetched file
          </a>
        </p>
      )}
      <pre class="task-output" data-testid="task-output">
        {outputRuns(store.output(id).list).map((run, i) => (
          <span key={i} class={`out-${run.stream}`} data-stream={run.stream}>
            {run.text}
          </span>
        ))}
      </pre>
      {task?.truncated && (
        <p class="notice" data-testid="truncated">
          Output past the cap was dropped (truncated).
        </p>
      )}
    </aside>
  );
}

/** Every stored chunk, page by page; frames fill in the rest and repeats merge away. */
async function loadOutput(id: string, store: ConsoleState['tasks']) {
  let after = 0;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await api.taskOutput(id, after).catch(() => null);
    if (!page) return;
    store.addOutput(id, page.output);
    if (page.next_after === null) return;
    after = page.next_after;
  }
}

function TaskFacts({ task }: { task: TaskJson }) {
  const result = task.result ? JSON.stringify(task.result, null, 2) : null;
  return (
    <>
      <dl>
        <dt>State</dt>
        <dd data-testid="task-state">{task.state}</dd>
        {task.error && (
          <>
            <dt>Why</dt>
            <dd data-testid="task-error">{task.error}</dd>
          </>
        )}
        <dt>Task</dt>
        <dd class="mono">{task.task_id}</dd>
        <dt>Created</dt>
        <dd title={task.created_at}>
          {formatTime(task.created_at)} by {actorName(task.created_by)}
        </dd>
        {task.approved_by && (
          <>
            <dt>Approved</dt>
            <dd>
              {formatTime(task.approved_at)} by {actorName(task.approved_by)}
            </dd>
          </>
        )}
        {task.cancel_requested_by && (
          <>
            <dt>Cancel asked by</dt>
            <dd>{actorName(task.cancel_requested_by)}</dd>
          </>
        )}
        {task.exit_code !== null && (
          <>
            <dt>Exit code</dt>
            <dd data-testid="exit-code">{task.exit_code}</dd>
          </>
        )}
        <dt>Finished</dt>
        <dd>{formatTime(task.finished_at)}</dd>
        <dt>Timeout</dt>
        <dd>{task.timeout_s} s</dd>
        {task.alert_id && (
          <>
            <dt>Alert</dt>
            <dd class="mono">{task.alert_id}</dd>
          </>
        )}
      </dl>
      <h3>Parameters</h3>
      <pre class="json" data-testid="task-parameters">
        {JSON.stringify(task.parameters, null, 2)}
      </pre>
      {result && (
        <>
          <h3>Result</h3>
          <pre class="json" data-testid="task-result">
            {result}
          </pre>
        </>
      )}
    </>
  );
}

/** Cancel while the task can still end otherwise; approve for a second admin. */
function TaskButtons(props: { task: TaskJson; state: ConsoleState; operator: Operator }) {
  const { task, state, operator } = props;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (isFinalTaskState(task.state) || operator.role === 'viewer') return null;
  const ownTask = actorName(task.created_by) === operator.name;
  const approvable = task.state === 'AWAITING_APPROVAL';
  const approveRefusal =
    operator.role !== 'admin'
      ? 'approval needs the admin role'
      : ownTask
        ? 'a second admin must approve: you created this task'
        : null;
  // The server refuses it too (a shell task is the admins' to run and to cancel).
  const cancelRefusal =
    task.action === 'shell_execute' && operator.role !== 'admin'
      ? 'cancelling a shell task needs the admin role'
      : null;
  const run = async (call: () => Promise<{ task: TaskJson }>) => {
    setBusy(true);
    setError(null);
    try {
      state.tasks.apply((await call()).task);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="task-actions" role="group" aria-label="Task actions">
      {approvable && (
        <button
          type="button"
          class="primary"
          disabled={busy || approveRefusal !== null}
          title={approveRefusal ?? undefined}
          onClick={() => void run(() => api.approveTask(task.task_id))}
        >
          Approve
        </button>
      )}
      {approvable && approveRefusal && <span class="muted">{approveRefusal}</span>}
      <button
        type="button"
        class="danger"
        disabled={busy || cancelRefusal !== null}
        title={cancelRefusal ?? undefined}
        onClick={() => void run(() => api.cancelTask(task.task_id))}
      >
        Cancel task
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
