import type { Severity } from '@tripwire/wire';

/** Colour plus text: the level is readable without colour vision. */
export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span class={`sev sev-${severity.toLowerCase()}`}>{severity}</span>;
}
