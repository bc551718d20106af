import type { IncidentState } from '@tripwire/wire';

export {
  COLLECTING_STATES,
  type CollectingState,
  FINAL_STATES,
  type FinalState,
  isCollectingState,
  isFinalState,
} from '@tripwire/wire';

/**
 * The incident lifecycle. RESOLVED and FALSE_POSITIVE are final: the record of
 * how an incident ended never changes, and alerts that come later open a new
 * incident (their history stays one query away, by host and rule).
 * Acknowledging can be undone (back to OPEN) when the wrong person took it.
 */
export const INCIDENT_TRANSITIONS: Readonly<Record<IncidentState, readonly IncidentState[]>> = {
  OPEN: ['ACKNOWLEDGED', 'RESOLVED', 'FALSE_POSITIVE'],
  ACKNOWLEDGED: ['OPEN', 'RESOLVED', 'FALSE_POSITIVE'],
  RESOLVED: [],
  FALSE_POSITIVE: [],
};

export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
  constructor(
    readonly from: IncidentState,
    readonly to: IncidentState,
    readonly allowed: readonly IncidentState[],
  ) {
    super(
      `an incident cannot go from ${from} to ${to}: ${
        allowed.length
          ? `from ${from} it can go to ${allowed.join(', ')}`
          : `${from} is final (later alerts open a new incident)`
      }`,
    );
  }
}

export function canTransition(from: IncidentState, to: IncidentState): boolean {
  return INCIDENT_TRANSITIONS[from].includes(to);
}

/** Throws InvalidTransitionError unless from → to is allowed. */
export function assertTransition(from: IncidentState, to: IncidentState): void {
  if (!canTransition(from, to))
    throw new InvalidTransitionError(from, to, INCIDENT_TRANSITIONS[from]);
}
