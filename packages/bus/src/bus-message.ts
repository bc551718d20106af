import type { IncidentState, ResolutionMethod, Severity, TripwireType } from './domain-types.js';

/** Everything a browser needs about one alert: the gRPC seed's WebSocket `data` shape. */
export interface AlertEventData {
  alert_id: string;
  host_id: string;
  hostname: string;
  /** When the sensor saw it (ISO 8601, UTC). */
  timestamp: string;
  timestamp_us: number;
  /** When the ingest service stored it (ISO 8601, UTC). */
  received_at: string;
  tripwire_type: TripwireType;
  rule_name: string;
  severity: Severity;
  event_detail: unknown;
}

/** A host going online (a stream opened) or offline (its last stream closed). */
export interface HostEventData {
  host_id: string;
  hostname: string;
  status: 'online' | 'offline';
  platform: string;
  agent_version: string;
  last_seen: string | null;
  /**
   * hosts.status_version after this change. Instances publish in no particular order: of two
   * messages for one host, the one with the higher version is the newer state.
   */
  version: number;
}

/** Published after messages had to be dropped (Redis was down longer than the backlog lasts). */
export interface GapEventData {
  dropped: number;
  first_dropped_at: string;
  last_dropped_at: string;
  reason: string;
}

/** A host's rules changed (host_id null: the global rules); ingest pushes them to connected agents. */
export interface RulesChangedData {
  host_id: string | null;
  rule_id: string;
  change: 'created' | 'updated' | 'deleted';
}

/** An incident as every interface shows it (REST, WebSocket, the bus); snake_case like alerts. */
export interface IncidentJson {
  incident_id: string;
  host_id: string;
  hostname: string;
  rule_name: string;
  tripwire_type: TripwireType;
  state: IncidentState;
  /** The highest severity of its alerts so far; never lowered. */
  max_severity: Severity;
  alert_count: number;
  first_seen: string;
  last_seen: string;
  assignee: string | null;
  /** Oldest first; only ever appended to. */
  notes: Array<{ author: string; at: string; text: string }>;
  resolution_method: ResolutionMethod | null;
  root_cause: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  /** Bumped by every operator change; send it back as expected_version. */
  version: number;
  /**
   * version + alert_count: grows with every change, by an operator (version) or
   * by new alerts (alert_count). Of two copies of an incident, the one with the
   * higher revision is newer; the same revision is the same change (a duplicate).
   */
  revision: number;
}

/** What happened to an incident: opened, changed (alerts, state, assignee, notes), or closed. */
export type IncidentEventKind = 'created' | 'updated' | 'resolved';

export interface IncidentEventData {
  event: IncidentEventKind;
  incident: IncidentJson;
}

export type BusMessage =
  | { type: 'alert'; data: AlertEventData }
  | { type: 'incident'; data: IncidentEventData }
  | { type: 'host'; data: HostEventData }
  | { type: 'rules'; data: RulesChangedData }
  | { type: 'gap'; data: GapEventData };

/** A message with its position in the event stream. */
export interface BusEntry {
  position: string;
  message: BusMessage;
  /** The message exactly as stored, for splicing into frames without re-serializing. */
  raw: string;
}

/**
 * The streams: `events` carries every alert, host change and gap, in order, for
 * the fan-out; `control` carries rare operator changes (rules) for the ingest
 * service, so ingest never reads the alert firehose.
 */
export type BusStream = 'events' | 'control';

/** A stream's Redis key. */
export const streamKey = (keyPrefix = '', stream: BusStream = 'events') =>
  `${keyPrefix}{tripwire:v1}:${stream}`;
/** Its counter: the last offset handed out and the last millisecond used (same hash slot). */
export const streamCounterKey = (keyPrefix = '', stream: BusStream = 'events') =>
  `${streamKey(keyPrefix, stream)}:counter`;

/** The field holding an entry's messages, as JSON texts joined by MESSAGE_SEPARATOR. */
export const MESSAGE_FIELD = 'm';
/** ASCII record separator: a raw control character never occurs in valid JSON text. */
export const MESSAGE_SEPARATOR = '\x1e';

/**
 * The JSON of an alert message, written directly: event detail arrives as JSON
 * text already validated by the ingest service and is spliced in as is, so an
 * alert is never parsed and re-serialized on the hot path. Equivalent to
 * JSON.stringify({ type: 'alert', data }) with data.event_detail parsed.
 */
export function serializeAlertMessage(
  data: Omit<AlertEventData, 'event_detail'>,
  eventDetailJson: string | null,
): string {
  return (
    `{"type":"alert","data":{"alert_id":${JSON.stringify(data.alert_id)},"host_id":${JSON.stringify(data.host_id)},` +
    `"hostname":${JSON.stringify(data.hostname)},"timestamp":"${data.timestamp}","timestamp_us":${data.timestamp_us},` +
    `"received_at":"${data.received_at}","tripwire_type":"${data.tripwire_type}",` +
    `"rule_name":${JSON.stringify(data.rule_name)},"severity":"${data.severity}",` +
    `"event_detail":${eventDetailJson ?? 'null'}}}`
  );
}
