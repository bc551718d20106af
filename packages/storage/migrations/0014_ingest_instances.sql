-- Up Migration
-- The republish sweep (docs/ingest.md, "The republish sweep"). While Redis fails, an ingest
-- instance acknowledges what it stored without waiting for the publish; if it dies before its
-- backlog drains, those alerts are in PostgreSQL but never reached the bus, and their agents do
-- not resend them. So every instance registers here for its lifetime, the ledger records which
-- instance stored each alert, and a surviving instance republishes the unmarked rows of one
-- that is gone.
--
-- An instance is alive while it holds the session-level advisory lock
-- (hashtext('tripwire.ingest.instance'), instance_id) on a connection of its own: PostgreSQL
-- releases it when that session ends, however the process ended. dead_since is when a sweeper
-- first found the lock free (a sweep waits a grace after it); swept_at / swept_id is how far the
-- sweep of a dead instance got (the keyset of the alerts' primary key). The row goes once the
-- sweep is over, or when the instance stops with nothing left to publish.
CREATE TABLE ingest_instances (
  instance_id integer PRIMARY KEY,
  started_at  timestamptz NOT NULL DEFAULT now(),
  dead_since  timestamptz,
  swept_at    timestamptz,
  swept_id    uuid
);

-- The storing instance, from the session setting each ingest connection carries
-- (`-c tripwire.ingest_instance=<id>` at connect): ingest_alerts() (0007) is unchanged, and rows
-- stored by anything else (older releases, backfills, tests) read NULL and are never swept.
-- Set at insert and never updated, so the mark's UPDATE stays HOT; 4 bytes a row. No index:
-- an index whose predicate names `published` (e.g. `WHERE NOT published`) makes every mark a
-- non-HOT update (measured: 0 of 5,000 HOT with one, 5,000 of 5,000 without), and one on
-- stored_by would cost every insert to speed up a rare sweep, which reads the dead instance's
-- span of the alerts' primary key instead.
ALTER TABLE alert_ids ADD COLUMN stored_by integer;
ALTER TABLE alert_ids ALTER COLUMN stored_by
  SET DEFAULT nullif(current_setting('tripwire.ingest_instance', true), '')::integer;

-- Down Migration
ALTER TABLE alert_ids DROP COLUMN stored_by;
DROP TABLE ingest_instances;
