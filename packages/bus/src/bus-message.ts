import type {
  AlertEventData,
  HostEventData,
  IncidentEventData,
  IncidentEventKind,
  IncidentJson,
  TaskEventData,
  TaskEventKind,
  TaskJson,
  TaskOutputJson,
} from '@tripwire/wire';
import { splitTraceparent, withTraceparent } from './trace-field.js';

// The data of the alert, host and incident messages is what browsers receive: its shapes live
// in @tripwire/wire, which the dashboard imports too.
export type {
  AlertEventData,
  HostEventData,
  IncidentEventData,
  IncidentEventKind,
  IncidentJson,
  TaskEventData,
  TaskEventKind,
  TaskJson,
  TaskOutputJson,
};

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

/** Suppressions changed (docs/suppressions.md); every ingest instance reloads its copy. */
export interface SuppressionsChangedData {
  suppression_id: string;
  change: 'created' | 'updated' | 'expired';
}

export type BusMessage =
  | { type: 'alert'; data: AlertEventData }
  | { type: 'incident'; data: IncidentEventData }
  | { type: 'host'; data: HostEventData }
  /** A response action changed (state, output chunk): docs/response-actions.md "Bus messages". */
  | { type: 'task'; data: TaskEventData }
  | { type: 'rules'; data: RulesChangedData }
  | { type: 'suppressions'; data: SuppressionsChangedData }
  | { type: 'gap'; data: GapEventData };

/** A message with its position in the event stream. */
export interface BusEntry {
  /** "<epoch>:<ms>-<offset>" (stream-position.ts); "<ms>-<offset>" for an entry written before epochs. */
  position: string;
  /** The stream's epoch when the message was appended; null for an entry written before epochs. */
  epoch: string | null;
  message: BusMessage;
  /** The message exactly as stored (without its traceparent), for splicing into frames without re-serializing. */
  raw: string;
  /** The W3C trace context the publisher attached (trace-field.ts); absent on untraced messages. */
  traceparent?: string;
}

/** One stored message text as a BusEntry: its trace context split off, the rest parsed (throws if not JSON). */
export function decodeBusEntry(position: string, epoch: string | null, stored: string): BusEntry {
  const { json: raw, traceparent } = splitTraceparent(stored);
  const message = JSON.parse(raw) as BusMessage;
  return traceparent
    ? { position, epoch, message, raw, traceparent }
    : { position, epoch, message, raw };
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
/**
 * Its counter (same hash slot): the last offset handed out and the last millisecond used, the
 * current epoch, the replication id of the server that started it, and the stream ID after
 * which the epoch's entries begin.
 */
export const streamCounterKey = (keyPrefix = '', stream: BusStream = 'events') =>
  `${streamKey(keyPrefix, stream)}:counter`;

/** The field holding an entry's messages, as JSON texts joined by MESSAGE_SEPARATOR. */
export const MESSAGE_FIELD = 'm';
/** The field holding the epoch the entry was appended in. */
export const EPOCH_FIELD = 'e';
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
  /** The publishing span's W3C trace context (trace-field.ts), when the alert's trace is sampled. */
  traceparent?: string,
): string {
  const json =
    `{"type":"alert","data":{"alert_id":${JSON.stringify(data.alert_id)},"host_id":${JSON.stringify(data.host_id)},` +
    `"hostname":${JSON.stringify(data.hostname)},"timestamp":"${data.timestamp}","timestamp_us":${data.timestamp_us},` +
    `"received_at":"${data.received_at}","tripwire_type":"${data.tripwire_type}",` +
    `"rule_name":${JSON.stringify(data.rule_name)},"severity":"${data.severity}",` +
    `"event_detail":${eventDetailJson ?? 'null'}` +
    // Only on suppressed alerts: every other message stays byte for byte as before.
    (data.suppression_id ? `,"suppression_id":"${data.suppression_id}"}}` : '}}');
  return traceparent === undefined ? json : withTraceparent(json, traceparent);
}

const ALERT_ID_PREFIX = '{"type":"alert","data":{"alert_id":"';
const UUID_LENGTH = 36;

/**
 * The alert id of a message serialized by serializeAlertMessage (or JSON.stringify of an alert
 * message built in the same key order); null for any other message. Reads the fixed prefix
 * instead of parsing: the ingest service calls it on every message it publishes. The id is a
 * copy: a plain slice would keep the whole message (event detail and all) alive in V8.
 */
export function alertIdOf(serialized: string): string | null {
  if (!serialized.startsWith(ALERT_ID_PREFIX)) return null;
  const end = ALERT_ID_PREFIX.length + UUID_LENGTH;
  if (serialized.charCodeAt(end) !== 34 /* " */) return null;
  return Buffer.from(serialized.slice(ALERT_ID_PREFIX.length, end), 'latin1').toString('latin1');
}
