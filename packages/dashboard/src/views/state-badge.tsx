import type { IncidentState } from '@tripwire/wire';

export const STATE_TEXT: Record<IncidentState, string> = {
  OPEN: 'OPEN',
  ACKNOWLEDGED: 'ACKNOWLEDGED',
  RESOLVED: 'RESOLVED',
  FALSE_POSITIVE: 'FALSE POSITIVE',
};

/** An incident's state, as text and colour. */
export function StateBadge({ state }: { state: IncidentState }) {
  return (
    <span class={`state state-${state.toLowerCase().replace('_', '-')}`} data-state={state}>
      {STATE_TEXT[state]}
    </span>
  );
}
