import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';

/** The frame types a subscription can ask for; none listed means all of them. */
export const KINDS = ['alert', 'incident', 'task'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What a filter looks at: an alert's own fields, for an incident its host,
 * type and highest severity so far, for a task its host only (a task has no
 * severity or type, so a filter naming severities or types lets no task through).
 */
export interface FilterSubject {
  kind: (typeof KINDS)[number];
  severity?: string;
  tripwire_type?: string;
  host_id: string;
  /** An alert a suppression muted: only subscriptions with include_suppressed get it. */
  suppressed?: boolean;
}

/** What a subscription lets through (alerts, incidents, tasks alike). An empty list means "any". */
export interface SubscriptionFilter {
  /** alert, incident and/or task frames. */
  kinds: string[];
  severities: string[];
  tripwire_types: string[];
  host_ids: string[];
  /** Muted alerts too (docs/suppressions.md); default false. */
  include_suppressed: boolean;
}

export class FilterError extends Error {}

const canonicalList = (values: string[]) => [...new Set(values)].sort();

/** Checks and canonicalizes a filter from a client (arrays of strings; unknown values refused by name). */
export function parseFilter(input: unknown, maxEntries: number): SubscriptionFilter {
  if (input === undefined || input === null)
    return {
      kinds: [],
      severities: [],
      tripwire_types: [],
      host_ids: [],
      include_suppressed: false,
    };
  if (typeof input !== 'object' || Array.isArray(input))
    throw new FilterError('filters must be an object');
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (
      !['kinds', 'severities', 'tripwire_types', 'host_ids', 'include_suppressed'].includes(key)
    ) {
      throw new FilterError(
        `unknown filter "${key}": use kinds, severities, tripwire_types, host_ids or include_suppressed`,
      );
    }
  }
  const includeSuppressed = raw.include_suppressed ?? false;
  if (typeof includeSuppressed !== 'boolean')
    throw new FilterError('include_suppressed must be true or false');
  const list = (key: string, allowed: readonly string[] | null, normalize = (v: string) => v) => {
    const value = raw[key] ?? [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new FilterError(`${key} must be an array of strings`);
    }
    const values = (value as string[]).map(normalize);
    for (const v of values) {
      if (allowed ? !allowed.includes(v) : !UUID.test(v)) {
        throw new FilterError(
          allowed
            ? `${key}: "${v.slice(0, 40)}" is not one of ${allowed.join(', ')}`
            : `${key}: "${v.slice(0, 40)}" is not a host UUID`,
        );
      }
    }
    return canonicalList(values);
  };
  const filter = {
    kinds: list('kinds', KINDS, (v) => v.toLowerCase()),
    severities: list('severities', SEVERITIES, (v) => v.toUpperCase()),
    tripwire_types: list('tripwire_types', TRIPWIRE_TYPES, (v) => v.toUpperCase()),
    host_ids: list('host_ids', null, (v) => v.toLowerCase()),
    include_suppressed: includeSuppressed,
  };
  const entries =
    filter.kinds.length +
    filter.severities.length +
    filter.tripwire_types.length +
    filter.host_ids.length;
  if (entries > maxEntries)
    throw new FilterError(
      `a filter may have at most ${maxEntries} entries; this one has ${entries}`,
    );
  return filter;
}

/** The initial filter from the upgrade's query string: kind, severity, type, host_id, each a comma list. */
export function filterFromQuery(query: URLSearchParams, maxEntries: number): SubscriptionFilter {
  const list = (name: string) =>
    (query.get(name) ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  return parseFilter(
    {
      kinds: list('kind'),
      severities: list('severity'),
      tripwire_types: list('type'),
      host_ids: list('host_id'),
      include_suppressed: query.get('include_suppressed') === 'true',
    },
    maxEntries,
  );
}

export function filterMatches(filter: SubscriptionFilter, subject: FilterSubject): boolean {
  return (
    (filter.kinds.length === 0 || filter.kinds.includes(subject.kind)) &&
    (filter.severities.length === 0 ||
      (subject.severity !== undefined && filter.severities.includes(subject.severity))) &&
    (filter.tripwire_types.length === 0 ||
      (subject.tripwire_type !== undefined &&
        filter.tripwire_types.includes(subject.tripwire_type))) &&
    (filter.host_ids.length === 0 || filter.host_ids.includes(subject.host_id)) &&
    (!subject.suppressed || filter.include_suppressed)
  );
}

export const filterKey = (f: SubscriptionFilter) =>
  JSON.stringify([f.kinds, f.severities, f.tripwire_types, f.host_ids, f.include_suppressed]);
