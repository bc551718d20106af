import type { Severity } from './severity.js';
import type { TripwireType } from './tripwire-type.js';

/** An alert as the REST API shows it (GET /api/alerts, an incident's alerts). */
export interface AlertJson {
  alert_id: string;
  host_id: string;
  /** When the sensor saw it (ISO 8601, UTC). */
  timestamp: string;
  timestamp_us: number;
  /** When the ingest service stored it (ISO 8601, UTC). */
  received_at: string;
  tripwire_type: TripwireType;
  rule_name: string;
  severity: Severity;
  event_detail: unknown;
  /**
   * The suppression that muted it (docs/suppressions.md): stored and acknowledged, but in no
   * incident and not pushed to browsers that did not ask. Absent (bus, WebSocket) or null (REST)
   * when not suppressed.
   */
  suppression_id?: string | null;
}

/**
 * Everything a browser needs about one alert: the `data` of a WebSocket `alert` frame and
 * of the bus's alert message. Its field names are public API, relied on by browsers and
 * scripts written by others; it adds the host's name to the REST shape.
 */
export interface AlertEventData extends AlertJson {
  hostname: string;
}
