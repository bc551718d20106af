-- Up Migration
-- The published mark also records WHERE the alert is in the bus stream: the epoch and offset of
-- its position ("<epoch>:<ms>-<offset>", docs/fanout.md "Positions and epochs"), from the append
-- script's reply. A resume served from PostgreSQL leaves out exactly the alerts recorded in the
-- browser's epoch at or before its offset: the browser had them (docs/fanout.md, "Resume").
--
-- Nullable, no default: adding them rewrites nothing, and rows written before, or not marked
-- (yet), read NULL and are sent by time as before. No index: they are set by the mark's UPDATE
-- (which stays HOT, the columns being in no index) and read only through the primary key, for
-- the rows a backfill reads anyway.
ALTER TABLE alert_ids ADD COLUMN bus_epoch text, ADD COLUMN bus_offset bigint;

-- The mark now makes each row's new version about 25 bytes wider than the one inserted, so a
-- page filled to half (0011) no longer holds every row's update: measured (640-row flushes,
-- each marked by one UPDATE after the next flush, 16-character epochs) 75% of the marks HOT at
-- fillfactor 50, 88% at 45, every one at 40, whose heap is smaller too (28 MB against 30 MB for
-- 190,000 rows: non-HOT versions go to new pages) and whose primary key stays as without
-- positions (7.9 MB against 9.2 MB). Applies to pages written from now on.
ALTER TABLE alert_ids SET (fillfactor = 40);

-- Down Migration
ALTER TABLE alert_ids SET (fillfactor = 50);
ALTER TABLE alert_ids DROP COLUMN bus_offset, DROP COLUMN bus_epoch;
