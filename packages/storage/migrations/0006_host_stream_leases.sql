-- Up Migration
-- Which ingest instance holds the host's stream, and when it last said so (its heartbeat).
-- A host is online while some instance holds a fresh lease; an instance that dies without
-- closing its streams stops renewing, and any other instance marks those hosts offline.
ALTER TABLE hosts
  ADD COLUMN stream_instance text,
  ADD COLUMN stream_seen_at timestamptz;
CREATE INDEX hosts_stream_lease_idx ON hosts (stream_seen_at) WHERE stream_instance IS NOT NULL;

-- Down Migration
DROP INDEX hosts_stream_lease_idx;
ALTER TABLE hosts DROP COLUMN stream_seen_at, DROP COLUMN stream_instance;
