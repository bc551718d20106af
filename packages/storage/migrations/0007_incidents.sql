-- Up Migration
-- Alerts grouped by (host, rule, tripwire type) within a window: one incident
-- instead of 500 rows. Grouping happens in ingest_alerts() below, in the same
-- transaction as the alerts; lifecycle changes come from operators.
CREATE TYPE incident_state AS ENUM ('OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'FALSE_POSITIVE');
CREATE TYPE incident_resolution AS ENUM ('MANUAL', 'AUTOMATED', 'PLAYBOOK');

CREATE TABLE incidents (
  incident_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- No foreign key, like alerts.host_id: ingest has authenticated the host, and a
  -- key check that failed would fail the whole group-commit batch, every agent's alerts.
  host_id           uuid NOT NULL,
  rule_name         text NOT NULL DEFAULT '',
  tripwire_type     tripwire_type NOT NULL,
  state             incident_state NOT NULL DEFAULT 'OPEN',
  -- Only ever raised (GREATEST over the enum's order INFO < WARN < CRITICAL).
  max_severity      severity_level NOT NULL,
  alert_count       bigint NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
  -- Server receive times of the first and the latest alert (creation time for a manual one).
  first_seen        timestamptz NOT NULL,
  last_seen         timestamptz NOT NULL,
  assignee          text,
  -- Append-only: [{"author": …, "at": …, "text": …}, …]
  notes             jsonb NOT NULL DEFAULT '[]'::jsonb,
  resolution_method incident_resolution,
  root_cause        text,
  created_by        text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  resolved_at       timestamptz,
  -- Bumped by every operator change (not by alerts joining): optimistic concurrency for edits.
  version           integer NOT NULL DEFAULT 1,
  CONSTRAINT incidents_resolution_complete CHECK (
    (state IN ('RESOLVED', 'FALSE_POSITIVE')) =
    (resolved_at IS NOT NULL AND resolution_method IS NOT NULL AND root_cause IS NOT NULL))
);
-- Correlation: the newest collecting incident for a key.
CREATE INDEX incidents_collecting_idx ON incidents (host_id, rule_name, tripwire_type, last_seen DESC)
  WHERE state IN ('OPEN', 'ACKNOWLEDGED');
-- Listing: severity then recency, optionally by state or host.
CREATE INDEX incidents_severity_idx ON incidents (max_severity DESC, last_seen DESC, incident_id DESC);
CREATE INDEX incidents_state_idx ON incidents (state, max_severity DESC, last_seen DESC);
CREATE INDEX incidents_host_idx ON incidents (host_id, last_seen DESC);
CREATE INDEX incidents_last_seen_idx ON incidents (last_seen DESC);

-- Added on the partitioned parent, so every partition (and every one created
-- later by ensure_alert_partition's LIKE + ATTACH) gets the column and the index.
-- No foreign key: it would cost a trigger and a row lock per alert.
ALTER TABLE alerts ADD COLUMN incident_id uuid;
CREATE INDEX alerts_incident_idx ON alerts (incident_id, received_at DESC, alert_id DESC)
  WHERE incident_id IS NOT NULL;

-- Serializes every writer of one correlation key's incidents (ingest flushes on
-- any instance and operator changes) until its transaction ends. The two-int
-- lock space keeps these apart from the single-bigint locks used elsewhere.
CREATE FUNCTION incident_key_lock_id(p_host uuid, p_type tripwire_type, p_rule text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtext(p_host::text || '/' || p_type::text || '/' || p_rule)
$$;

CREATE FUNCTION lock_incident_key(p_host uuid, p_type tripwire_type, p_rule text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtext('tripwire.incidents'), incident_key_lock_id(p_host, p_type, p_rule))
$$;

-- The collecting incident of a key at p_at: the newest OPEN/ACKNOWLEDGED one
-- whose last alert is at most p_window_s older.
CREATE FUNCTION collecting_incident(
  p_host uuid, p_rule text, p_type tripwire_type, p_at timestamptz, p_window_s double precision
) RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT x.incident_id FROM incidents x
  WHERE x.host_id = p_host AND x.rule_name = p_rule AND x.tripwire_type = p_type
    AND x.state IN ('OPEN', 'ACKNOWLEDGED')
    AND x.last_seen >= p_at - make_interval(secs => p_window_s)
  ORDER BY x.last_seen DESC, x.created_at DESC, x.incident_id DESC LIMIT 1
$$;

-- Stores a batch of alerts and groups them into incidents, atomically:
--  1. claim alert ids in the ledger (resends are not stored and not counted) and
--     store the new alerts, each with a *guessed* incident: the key's collecting
--     incident as this snapshot sees it, or a fresh id;
--  2. lock the batch's correlation keys, in ascending lock-id order (overlapping
--     flushes cannot deadlock; collisions only over-serialize);
--  3. under the locks, decide again: join the collecting incident or open one
--     (with the guessed id when the guess was "new"); in the rare case the guess
--     was wrong (another flush opened it, an operator resolved it meanwhile),
--     move this batch's alerts to the right incident;
--  4. one audit entry per incident opened (actor 'ingest'), taken last.
-- Only step 3 and the commit run under the key locks: the alert rows, the bulk
-- of the work, are written while other flushes for the same keys run.
-- Returns the batch's received_at, the stored alert ids, and the incidents touched.
CREATE FUNCTION ingest_alerts(p_batch jsonb, p_received_at timestamptz, p_window_s double precision)
RETURNS TABLE (received_at timestamptz, stored_ids text[], incidents jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  k record;
  v_at timestamptz := coalesce(p_received_at, now());
  v_stored text[];
  v_guesses jsonb;
  v_incidents jsonb;
  i jsonb;
BEGIN
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(p_batch)
      AS t(id uuid, host uuid, us bigint, type tripwire_type, sev severity_level, rule text, detail jsonb)
  ), fresh AS (
    INSERT INTO alert_ids (alert_id, received_at)
    SELECT input.id, v_at FROM input
    ON CONFLICT (alert_id) DO NOTHING
    RETURNING alert_id
  ), batch AS (
    SELECT i.* FROM input i JOIN fresh f ON f.alert_id = i.id
  ), keys AS (
    SELECT b.host, b.rule, b.type, count(*) AS n, max(b.sev) AS sev FROM batch b GROUP BY 1, 2, 3
  ), guess AS MATERIALIZED (
    SELECT k.*, c.id AS seen_id, coalesce(c.id, gen_random_uuid()) AS incident_id
    FROM keys k, LATERAL (SELECT collecting_incident(k.host, k.rule, k.type, v_at, p_window_s) AS id) c
  ), stored AS (
    INSERT INTO alerts (alert_id, host_id, received_at, occurred_at, tripwire_type, severity, rule_name, event_detail, incident_id)
    SELECT b.id, b.host, v_at, 'epoch'::timestamptz + b.us * interval '1 microsecond', b.type, b.sev, b.rule, b.detail, g.incident_id
    FROM batch b JOIN guess g ON g.host = b.host AND g.rule = b.rule AND g.type = b.type
    RETURNING alert_id
  )
  SELECT
    (SELECT coalesce(array_agg(s.alert_id::text), '{}') FROM stored s),
    (SELECT coalesce(jsonb_agg(to_jsonb(g)), '[]'::jsonb) FROM guess g)
  INTO v_stored, v_guesses;

  FOR k IN
    SELECT DISTINCT incident_key_lock_id((g ->> 'host')::uuid, (g ->> 'type')::tripwire_type, g ->> 'rule') AS id
    FROM jsonb_array_elements(v_guesses) g
    ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(hashtext('tripwire.incidents'), k.id);
  END LOOP;

  -- A new statement, so a new snapshot: it sees everything committed by whoever held the locks before us.
  WITH guess AS (
    SELECT * FROM jsonb_to_recordset(v_guesses)
      AS g(host uuid, rule text, type tripwire_type, n bigint, sev severity_level, seen_id uuid, incident_id uuid)
  ), target AS MATERIALIZED (
    SELECT g.*, c.id AS current_id,
      coalesce(c.id, CASE WHEN g.seen_id IS NULL THEN g.incident_id ELSE gen_random_uuid() END) AS final_id
    FROM guess g, LATERAL (SELECT collecting_incident(g.host, g.rule, g.type, v_at, p_window_s) AS id) c
  ), joined AS (
    UPDATE incidents x SET
      alert_count = x.alert_count + t.n,
      max_severity = greatest(x.max_severity, t.sev),
      -- Overlapping flushes commit out of order: an earlier batch can join an incident a later one opened.
      first_seen = least(x.first_seen, v_at),
      last_seen = greatest(x.last_seen, v_at),
      updated_at = now()
    FROM target t WHERE x.incident_id = t.current_id
    RETURNING x.incident_id, x.host_id, x.rule_name, x.tripwire_type, x.max_severity, x.alert_count,
      false AS opened, t.incident_id AS guessed_id
  ), opened AS (
    INSERT INTO incidents (incident_id, host_id, rule_name, tripwire_type, max_severity, alert_count, first_seen, last_seen, created_by)
    SELECT t.final_id, t.host, t.rule, t.type, t.sev, t.n, v_at, v_at, 'ingest' FROM target t WHERE t.current_id IS NULL
    RETURNING incident_id, host_id, rule_name, tripwire_type, max_severity, alert_count, true AS opened,
      NULL::uuid AS guessed_id
  ), touched AS (
    SELECT j.* FROM joined j
    UNION ALL
    SELECT o.incident_id, o.host_id, o.rule_name, o.tripwire_type, o.max_severity, o.alert_count, o.opened,
      t.incident_id FROM opened o JOIN target t ON t.final_id = o.incident_id
  )
  SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM touched t INTO v_incidents;

  -- A wrong guess: move this batch's alerts (and only these) to the incident decided under the lock.
  UPDATE alerts a SET incident_id = (t ->> 'incident_id')::uuid
  FROM jsonb_array_elements(v_incidents) t
  WHERE a.received_at = v_at AND a.alert_id = ANY(v_stored::uuid[])
    AND a.incident_id = (t ->> 'guessed_id')::uuid AND t ->> 'guessed_id' <> t ->> 'incident_id';

  FOR i IN SELECT * FROM jsonb_array_elements(v_incidents) LOOP
    IF (i ->> 'opened')::boolean THEN
      PERFORM append_audit_entry('ingest', 'incident.open', (i ->> 'host_id')::uuid, i ->> 'incident_id',
        jsonb_build_object('rule_name', i -> 'rule_name', 'tripwire_type', i -> 'tripwire_type',
          'max_severity', i -> 'max_severity', 'alert_count', i -> 'alert_count', 'state', 'OPEN'));
    END IF;
  END LOOP;

  received_at := v_at;
  stored_ids := v_stored;
  incidents := v_incidents;
  RETURN NEXT;
END $$;

-- Down Migration
DROP FUNCTION ingest_alerts(jsonb, timestamptz, double precision);
DROP FUNCTION collecting_incident(uuid, text, tripwire_type, timestamptz, double precision);
DROP FUNCTION lock_incident_key(uuid, tripwire_type, text);
DROP FUNCTION incident_key_lock_id(uuid, tripwire_type, text);
DROP INDEX alerts_incident_idx;
ALTER TABLE alerts DROP COLUMN incident_id;
DROP TABLE incidents;
DROP TYPE incident_resolution;
DROP TYPE incident_state;
