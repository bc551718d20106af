import {
  type ServerCommand,
  Severity,
  TripwireType,
  type TripwireRule as WireRule,
} from '@tripwire/proto';
import type { TripwireRule } from '@tripwire/storage';

const WIRE_TYPE = {
  FILE: TripwireType.FILE,
  NETWORK: TripwireType.NETWORK,
  PROCESS: TripwireType.PROCESS,
};
const WIRE_SEVERITY = { INFO: Severity.INFO, WARN: Severity.WARN, CRITICAL: Severity.CRITICAL };

/** The RulesUpdate command carrying a host's complete rule set. */
export function rulesCommand(rules: readonly TripwireRule[]): ServerCommand {
  const wire: WireRule[] = rules.map((r) => ({
    ruleId: r.ruleId,
    hostId: r.hostId ?? '',
    name: r.name,
    tripwireType: WIRE_TYPE[r.tripwireType],
    severity: WIRE_SEVERITY[r.severity],
    target: r.target,
    configJson: JSON.stringify(r.config),
    enabled: r.enabled,
  }));
  return { command: { $case: 'rules', rules: { rules: wire } } };
}
