/**
 * Least to most severe: the order of PostgreSQL's severity_level enum and of the proto's
 * Severity numbers, so `ORDER BY severity DESC` and a comparison here agree.
 */
export const SEVERITIES = ['INFO', 'WARN', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Higher is more severe: INFO 0, WARN 1, CRITICAL 2. */
export const severityRank = (severity: Severity): number => SEVERITIES.indexOf(severity);

/** For sorting, least severe first; swap the arguments for most severe first. */
export const compareSeverity = (a: Severity, b: Severity): number =>
  severityRank(a) - severityRank(b);
