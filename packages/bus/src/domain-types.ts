// The bus carries the wire names; kept here so the bus has no storage dependency.
export type TripwireType = 'FILE' | 'NETWORK' | 'PROCESS';
export type Severity = 'INFO' | 'WARN' | 'CRITICAL';
export type IncidentState = 'OPEN' | 'ACKNOWLEDGED' | 'RESOLVED' | 'FALSE_POSITIVE';
export type ResolutionMethod = 'MANUAL' | 'AUTOMATED' | 'PLAYBOOK';
