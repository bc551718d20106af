-- Up Migration
-- Suppressions (mute rules, docs/suppressions.md): an alert matching one is still stored and
-- acknowledged, flagged with the suppression's id, but joins no incident and is not pushed to
-- browsers that did not ask. Ingest matches alerts against its cached copy of this table (the
-- criteria columns); NULL criteria match anything.
CREATE TABLE suppressions (
  suppression_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- No foreign key to hosts: a suppression outlives nothing it needs, and the API checks the host.
  host_id        uuid,
  rule_name      text,
  tripwire_type  tripwire_type,
  severity       severity_level,
  -- [{"path": ["a", "b"], "op": "equals"|"prefix"|"contains", "value": "…"}], all must hold.
  detail         jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(detail) = 'array'),
  justification  text NOT NULL CHECK (justification <> ''),
  expires_at     timestamptz,
  created_by     text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- Rolled up from suppression_hits (below); the true count adds the rows still waiting there.
  hit_count      bigint NOT NULL DEFAULT 0,
  last_hit_at    timestamptz
);
CREATE INDEX suppressions_expires_idx ON suppressions (expires_at);

-- Hits, appended by each ingest flush (one row per suppression per flush) and rolled up into
-- suppressions by roll_up_suppression_hits(): a noisy suppression never makes concurrent flushes
-- queue on its row lock. No foreign key, for the same reason.
CREATE TABLE suppression_hits (
  suppression_id uuid NOT NULL,
  hits           bigint NOT NULL,
  last_hit_at    timestamptz NOT NULL
);
CREATE INDEX suppression_hits_id_idx ON suppression_hits (suppression_id);

-- On the partitioned parent, so every partition (and every one created later) has it. Nullable
-- without default: adding it rewrites nothing. Partial index: suppressed alerts are the few.
ALTER TABLE alerts ADD COLUMN suppression_id uuid;
CREATE INDEX alerts_suppression_idx ON alerts (suppression_id, received_at DESC)
  WHERE suppression_id IS NOT NULL;

-- Stores a batch of suppressed alerts (each with "sup", its suppression's id): claims the ids in
-- the idempotency ledger like ingest_alerts(), stores the new ones with no incident, and appends
-- one hit row per suppression. Called in the same statement as ingest_alerts() (alert-store.ts),
-- so in the same transaction, with that call's received_at.
CREATE FUNCTION ingest_suppressed_alerts(p_batch jsonb, p_received_at timestamptz)
RETURNS text[] LANGUAGE sql AS $$
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(p_batch)
      AS t(id uuid, host uuid, us bigint, type tripwire_type, sev severity_level, rule text, detail jsonb, sup uuid)
  ), fresh AS (
    INSERT INTO alert_ids (alert_id, received_at)
    SELECT input.id, p_received_at FROM input
    ON CONFLICT (alert_id) DO NOTHING
    RETURNING alert_id
  ), stored AS (
    INSERT INTO alerts (alert_id, host_id, received_at, occurred_at, tripwire_type, severity, rule_name, event_detail, suppression_id)
    SELECT i.id, i.host, p_received_at, 'epoch'::timestamptz + i.us * interval '1 microsecond', i.type, i.sev, i.rule, i.detail, i.sup
    FROM input i JOIN fresh f ON f.alert_id = i.id
    RETURNING alert_id, suppression_id
  ), hits AS (
    INSERT INTO suppression_hits (suppression_id, hits, last_hit_at)
    SELECT s.suppression_id, count(*), p_received_at FROM stored s GROUP BY s.suppression_id
  )
  SELECT coalesce(array_agg(s.alert_id::text), '{}') FROM stored s
$$;

-- Moves the waiting hit rows into their suppressions' totals. Safe from several instances at
-- once: each row is deleted (and so counted) by exactly one of them.
CREATE FUNCTION roll_up_suppression_hits() RETURNS bigint LANGUAGE sql AS $$
  WITH moved AS (
    DELETE FROM suppression_hits RETURNING suppression_id, hits, last_hit_at
  ), sums AS (
    SELECT suppression_id, sum(hits) AS n, max(last_hit_at) AS at FROM moved GROUP BY 1
  ), updated AS (
    UPDATE suppressions s SET hit_count = s.hit_count + sums.n,
      last_hit_at = greatest(s.last_hit_at, sums.at)
    FROM sums WHERE s.suppression_id = sums.suppression_id
    RETURNING 1
  )
  SELECT count(*) FROM updated
$$;

-- Down Migration
DROP FUNCTION roll_up_suppression_hits();
DROP FUNCTION ingest_suppressed_alerts(jsonb, timestamptz);
DROP INDEX alerts_suppression_idx;
ALTER TABLE alerts DROP COLUMN suppression_id;
DROP TABLE suppression_hits;
DROP TABLE suppressions;
