-- Up Migration
CREATE TYPE tripwire_type AS ENUM ('FILE', 'NETWORK', 'PROCESS');
CREATE TYPE severity_level AS ENUM ('INFO', 'WARN', 'CRITICAL');

-- Partitioned by the server's receive time, one partition per month (UTC).
-- PostgreSQL requires the partition key in every unique index, so the primary
-- key here is (received_at, alert_id) and cannot stop the same alert_id from
-- landing twice in different months. alert_ids below is the idempotency ledger.
-- The primary key doubles as the time index (newest-first scans read it backwards).
CREATE TABLE alerts (
  alert_id      uuid NOT NULL,
  host_id       uuid NOT NULL,
  received_at   timestamptz NOT NULL DEFAULT now(),
  occurred_at   timestamptz NOT NULL,
  tripwire_type tripwire_type NOT NULL,
  severity      severity_level NOT NULL,
  rule_name     text NOT NULL DEFAULT '',
  event_detail  jsonb,
  PRIMARY KEY (received_at, alert_id)
) PARTITION BY RANGE (received_at);

CREATE INDEX alerts_host_received_idx ON alerts (host_id, received_at DESC);

-- Catches any row no monthly partition covers, so an insert never fails for lack of one.
CREATE TABLE alerts_default PARTITION OF alerts DEFAULT;

-- One row per alert ever stored: a global unique key that survives partitioning.
-- Inserting here with ON CONFLICT DO NOTHING decides, atomically and across
-- concurrent writers, whether an alert is new. Its received_at also finds the
-- alert's row (and partition) by id.
CREATE TABLE alert_ids (
  alert_id    uuid PRIMARY KEY,
  received_at timestamptz NOT NULL
);

-- Down Migration
DROP TABLE alert_ids;
DROP TABLE alerts;
DROP TYPE severity_level;
DROP TYPE tripwire_type;
