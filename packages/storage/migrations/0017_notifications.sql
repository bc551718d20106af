-- Up Migration
-- Notifications (docs/notifications.md): routes say which incident events (and, optionally,
-- single alerts) go where; deliveries are a durable queue, one row per event x route.
-- Rows are enqueued by triggers, so in the same transaction as the incident change or the
-- alert insert, whichever code path (ingest_alerts, an operator's transition) made it.
CREATE TABLE notification_routes (
  route_id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
  enabled             boolean NOT NULL DEFAULT true,
  -- Incident events and 'alert' (every single alert that matches).
  events              text[] NOT NULL CHECK (cardinality(events) > 0
                        AND events <@ ARRAY['opened', 'escalated', 'resolved', 'alert']),
  -- Severity at or above (an incident's max severity, an alert's severity).
  min_severity        severity_level NOT NULL DEFAULT 'INFO',
  -- NULL matches everything; otherwise one of the listed values.
  host_ids            uuid[],
  tripwire_types      tripwire_type[],
  rule_names          text[],
  kind                text NOT NULL CHECK (kind IN ('webhook', 'slack', 'pagerduty', 'email')),
  -- Non-secret settings (URL, recipients); the API returns them.
  config              jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
  -- HMAC key, PagerDuty routing key, SMTP password: never returned by the API nor logged.
  secrets             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(secrets) = 'object'),
  -- A mustache template for the message text (NULL: the built-in one).
  template            text CHECK (length(template) <= 10000),
  -- At most this many messages a minute (fixed window); the rest are folded into a digest.
  throttle_per_minute integer CHECK (throttle_per_minute > 0),
  window_started_at   timestamptz,
  window_sent         integer NOT NULL DEFAULT 0,
  created_by          text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE notification_delivery_state AS ENUM ('pending', 'sending', 'delivered', 'dead');

CREATE TABLE notification_deliveries (
  delivery_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  route_id        uuid NOT NULL REFERENCES notification_routes (route_id) ON DELETE CASCADE,
  -- 'incident:<id>:opened', 'incident:<id>:escalated:<severity>', 'incident:<id>:resolved:<at>',
  -- 'alert:<id>': an event is enqueued once per route, whoever sees it.
  event_key       text NOT NULL,
  -- The event as it was when it happened (what the message says).
  event           jsonb NOT NULL,
  state           notification_delivery_state NOT NULL DEFAULT 'pending',
  attempts        integer NOT NULL DEFAULT 0,
  -- pending: when it is due; sending: when the worker's lease ends (then it is due again).
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  -- Since when it waits (reset by a manual retry): the max-age dead-letter clock.
  queued_at       timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  -- The idempotency key of the digest message it went out in (with the others of that digest).
  digest_key      text,
  CONSTRAINT notification_deliveries_once UNIQUE (route_id, event_key)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at)
  WHERE state IN ('pending', 'sending');
CREATE INDEX notification_deliveries_listing_idx ON notification_deliveries (state, created_at DESC, delivery_id DESC);
CREATE INDEX notification_deliveries_route_idx ON notification_deliveries (route_id, created_at DESC);

-- Enqueues one event for every enabled route that matches it.
CREATE FUNCTION enqueue_notification(
  p_kind text, p_key text, p_sev severity_level, p_host uuid, p_type tripwire_type, p_rule text, p_event jsonb
) RETURNS void LANGUAGE sql AS $$
  INSERT INTO notification_deliveries (route_id, event_key, event)
  SELECT r.route_id, p_key, p_event || jsonb_build_object('event', p_kind,
    'hostname', (SELECT h.hostname FROM hosts h WHERE h.host_id = p_host))
  FROM notification_routes r
  WHERE r.enabled AND p_kind = ANY(r.events) AND p_sev >= r.min_severity
    AND (r.host_ids IS NULL OR p_host = ANY(r.host_ids))
    AND (r.tripwire_types IS NULL OR p_type = ANY(r.tripwire_types))
    AND (r.rule_names IS NULL OR p_rule = ANY(r.rule_names))
  ON CONFLICT ON CONSTRAINT notification_deliveries_once DO NOTHING
$$;

CREATE FUNCTION incident_notification_event(x incidents) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('incident_id', x.incident_id, 'host_id', x.host_id, 'rule_name', x.rule_name,
    'tripwire_type', x.tripwire_type, 'severity', x.max_severity, 'state', x.state,
    'alert_count', x.alert_count, 'first_seen', x.first_seen, 'last_seen', x.last_seen,
    'resolved_at', x.resolved_at, 'root_cause', x.root_cause)
$$;

-- opened (inserted), escalated (max severity raised), resolved (moved to a final state).
CREATE FUNCTION notify_incident_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_kind text;
  v_key text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_kind := 'opened';
    v_key := 'incident:' || NEW.incident_id || ':opened';
  ELSIF NEW.state IN ('RESOLVED', 'FALSE_POSITIVE') AND OLD.state NOT IN ('RESOLVED', 'FALSE_POSITIVE') THEN
    v_kind := 'resolved';
    v_key := 'incident:' || NEW.incident_id || ':resolved:' || extract(epoch FROM NEW.resolved_at);
  ELSIF NEW.max_severity > OLD.max_severity THEN
    v_kind := 'escalated';
    v_key := 'incident:' || NEW.incident_id || ':escalated:' || NEW.max_severity;
  ELSE
    RETURN NULL;
  END IF;
  -- Cheap when nothing listens: no route, no work.
  IF EXISTS (SELECT 1 FROM notification_routes r WHERE r.enabled AND v_kind = ANY(r.events)) THEN
    PERFORM enqueue_notification(v_kind, v_key, NEW.max_severity, NEW.host_id, NEW.tripwire_type,
      NEW.rule_name, incident_notification_event(NEW));
  END IF;
  RETURN NULL;
END $$;

-- The WHEN clause is evaluated without calling the function: an alert joining an incident
-- (the common update, from ingest) costs nothing here.
CREATE TRIGGER incidents_notify_open AFTER INSERT ON incidents
  FOR EACH ROW EXECUTE FUNCTION notify_incident_change();
CREATE TRIGGER incidents_notify_change AFTER UPDATE OF state, max_severity ON incidents
  FOR EACH ROW WHEN (NEW.max_severity > OLD.max_severity OR (NEW.state IN ('RESOLVED', 'FALSE_POSITIVE')
    AND OLD.state NOT IN ('RESOLVED', 'FALSE_POSITIVE')))
  EXECUTE FUNCTION notify_incident_change();

-- Single alerts: a row trigger on alerts (cloned onto every partition, present and future).
-- It is disabled (zero cost on ingest's inserts) unless some enabled route asks for single
-- alerts: toggle_alert_notify_trigger below switches it with the route changes.
CREATE FUNCTION notify_alert_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM enqueue_notification('alert', 'alert:' || NEW.alert_id, NEW.severity, NEW.host_id,
    NEW.tripwire_type, NEW.rule_name, jsonb_build_object('alert_id', NEW.alert_id, 'host_id', NEW.host_id,
      'rule_name', NEW.rule_name, 'tripwire_type', NEW.tripwire_type, 'severity', NEW.severity,
      'incident_id', NEW.incident_id, 'occurred_at', NEW.occurred_at, 'received_at', NEW.received_at,
      'event_detail', NEW.event_detail));
  RETURN NULL;
END $$;

-- A suppressed alert (migration 0016) is muted: no notification either.
CREATE TRIGGER alerts_notify AFTER INSERT ON alerts FOR EACH ROW
  WHEN (NEW.suppression_id IS NULL) EXECUTE FUNCTION notify_alert_insert();
ALTER TABLE alerts DISABLE TRIGGER alerts_notify;

-- Runs in the route change's transaction; ALTER TABLE (recursing to the partitions, which a
-- partition attached later follows) takes a short lock on alerts, waiting for the inserts in
-- flight, so it is only taken when the answer changes.
CREATE FUNCTION toggle_alert_notify_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_wanted boolean := EXISTS (SELECT 1 FROM notification_routes r WHERE r.enabled AND 'alert' = ANY(r.events));
  v_enabled boolean := (SELECT t.tgenabled <> 'D' FROM pg_trigger t
    WHERE t.tgrelid = 'alerts'::regclass AND t.tgname = 'alerts_notify');
BEGIN
  IF v_wanted AND NOT v_enabled THEN
    ALTER TABLE alerts ENABLE TRIGGER alerts_notify;
  ELSIF v_enabled AND NOT v_wanted THEN
    ALTER TABLE alerts DISABLE TRIGGER alerts_notify;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER routes_toggle_alert_trigger AFTER INSERT OR UPDATE OR DELETE ON notification_routes
  FOR EACH STATEMENT EXECUTE FUNCTION toggle_alert_notify_trigger();

-- Down Migration
DROP TRIGGER routes_toggle_alert_trigger ON notification_routes;
DROP FUNCTION toggle_alert_notify_trigger();
DROP TRIGGER alerts_notify ON alerts;
DROP FUNCTION notify_alert_insert();
DROP TRIGGER incidents_notify_change ON incidents;
DROP TRIGGER incidents_notify_open ON incidents;
DROP FUNCTION notify_incident_change();
DROP FUNCTION incident_notification_event(incidents);
DROP FUNCTION enqueue_notification(text, text, severity_level, uuid, tripwire_type, text, jsonb);
DROP TABLE notification_deliveries;
DROP TYPE notification_delivery_state;
DROP TABLE notification_routes;
