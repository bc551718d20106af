import type { TaskState } from '../task-types.js';

/** A task's state, as text and colour. */
export function TaskStateBadge({ state }: { state: TaskState }) {
  return (
    <span class={`state task-state-${state.toLowerCase().replace(/_/g, '-')}`} data-state={state}>
      {state.replace(/_/g, ' ')}
    </span>
  );
}
