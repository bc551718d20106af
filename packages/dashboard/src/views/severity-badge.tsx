import type { Severity } from '../api.js';

/** Colour plus text: the level is readable without colour vision. */
export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span class={`sev sev-${severity.toLowerCase()}`}>{severity}</span>;
}
