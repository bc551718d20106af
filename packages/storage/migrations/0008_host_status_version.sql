-- Up Migration
-- Bumped by every write that changes a host's status or stream holder, in the same statement:
-- ingest instances publish their `host` messages in no particular order, so the fan-out and
-- browsers keep, per host, the change with the highest version.
ALTER TABLE hosts ADD COLUMN status_version bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE hosts DROP COLUMN status_version;
