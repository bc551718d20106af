import type { IncidentEventKind, IncidentJson } from '@tripwire/bus';
import {
  type Incident,
  type IncidentAlert,
  IncidentEventType,
  IncidentState,
  ResolutionMethod,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import type {
  Alert,
  ResolutionMethod as StoredMethod,
  Severity as StoredSeverity,
  IncidentState as StoredState,
  TripwireType as StoredType,
} from '@tripwire/storage';
import {
  hasControlCharacters,
  INCIDENT_STATES,
  quoteForEcho,
  RESOLUTION_METHODS,
  SEVERITIES,
  TRIPWIRE_TYPES,
} from '@tripwire/wire';

// Storage, the bus and @tripwire/wire use the enum value names; gRPC uses their numbers.

/** A request field that cannot be used as given; the message names the field. */
export class BadField extends Error {
  override name = 'BadField';
}

function named<T extends string>(
  field: string,
  names: readonly T[],
  wire: Record<string, string | number>,
  value: number,
): T {
  const name = wire[value];
  if (typeof name !== 'string' || !names.includes(name as T)) {
    throw new BadField(`${field} must be one of ${names.join(', ')} (got ${value})`);
  }
  return name as T;
}

export const stateName = (field: string, v: IncidentState): StoredState =>
  named(field, INCIDENT_STATES, IncidentState, v);
export const severityName = (field: string, v: Severity): StoredSeverity =>
  named(field, SEVERITIES, Severity, v);
export const typeName = (field: string, v: TripwireType): StoredType =>
  named(field, TRIPWIRE_TYPES, TripwireType, v);
export const methodName = (field: string, v: ResolutionMethod): StoredMethod =>
  named(field, RESOLUTION_METHODS, ResolutionMethod, v);

/** Each value of a repeated enum field, e.g. `states[1]` named when it is bad. */
export const names = <T>(
  field: string,
  values: readonly number[],
  one: (f: string, v: never) => T,
) => values.map((v, i) => one(`${field}[${i}]`, v as never));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkUuid(field: string, value: string): string {
  if (!UUID.test(value)) {
    throw new BadField(
      value ? `${field} must be a UUID (got ${quoteForEcho(value)})` : `${field} is required`,
    );
  }
  return value;
}

/**
 * A text field within the limit REST enforces too (@tripwire/wire limits): at most `max`
 * characters, no control characters (free text may hold newlines and tabs), well-formed UTF-16.
 */
export function checkText(
  field: string,
  value: string,
  max: number,
  opts: { allowNewlines?: boolean } = {},
): string {
  if (value.length > max) {
    throw new BadField(`${field} must be at most ${max} characters (got ${value.length})`);
  }
  if (hasControlCharacters(value, opts) || !value.isWellFormed()) {
    const allowed = opts.allowNewlines ? ' other than newline and tab' : '';
    throw new BadField(`${field} must not contain control characters${allowed}`);
  }
  return value;
}

/** page_size: 0 means the default, else 1..max. */
export function pageSize(value: number, fallback: number, max: number): number {
  if (value === 0) return fallback;
  if (value < 1 || value > max)
    throw new BadField(`page_size must be from 1 to ${max} (got ${value})`);
  return value;
}

/** page_token is the next offset as a decimal string, as next_page_token hands it out. */
export function pageOffset(token: string): number {
  if (token === '') return 0;
  const offset = /^\d{1,15}$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isSafeInteger(offset)) {
    throw new BadField('page_token must be a next_page_token from an earlier page');
  }
  return offset;
}

/** The token for the page after `offset` + `count` of `total`, empty on the last page. */
export const nextPageToken = (offset: number, count: number, total: number) =>
  offset + count < total ? String(offset + count) : '';

const date = (iso: string | null) => (iso === null ? undefined : new Date(iso));

/** An incident on the wire, from the JSON every interface shares (toIncidentJson, bus messages). */
export function toWireIncident(i: IncidentJson): Incident {
  return {
    incidentId: i.incident_id,
    hostId: i.host_id,
    hostname: i.hostname,
    ruleName: i.rule_name,
    tripwireType: TripwireType[i.tripwire_type],
    state: IncidentState[i.state],
    maxSeverity: Severity[i.max_severity],
    alertCount: i.alert_count,
    firstSeen: date(i.first_seen),
    lastSeen: date(i.last_seen),
    assignee: i.assignee ?? '',
    notes: i.notes.map((n) => ({ author: n.author, at: date(n.at), text: n.text })),
    resolutionMethod: i.resolution_method
      ? ResolutionMethod[i.resolution_method]
      : ResolutionMethod.RESOLUTION_METHOD_UNSPECIFIED,
    rootCause: i.root_cause ?? '',
    createdBy: i.created_by,
    createdAt: date(i.created_at),
    updatedAt: date(i.updated_at),
    resolvedAt: date(i.resolved_at),
    version: i.version,
    revision: i.revision,
  };
}

export function toWireAlert(a: Alert): IncidentAlert {
  return {
    alertId: a.alertId,
    hostId: a.hostId,
    tripwireType: TripwireType[a.tripwireType],
    severity: Severity[a.severity],
    ruleName: a.ruleName,
    occurredAt: new Date(Math.floor(a.occurredAtUs / 1000)),
    receivedAt: a.receivedAt,
    eventDetailJson:
      a.eventDetail === null || a.eventDetail === undefined ? '' : JSON.stringify(a.eventDetail),
  };
}

export const WIRE_EVENT: Record<IncidentEventKind, IncidentEventType> = {
  created: IncidentEventType.INCIDENT_EVENT_TYPE_CREATED,
  updated: IncidentEventType.INCIDENT_EVENT_TYPE_UPDATED,
  resolved: IncidentEventType.INCIDENT_EVENT_TYPE_RESOLVED,
};
