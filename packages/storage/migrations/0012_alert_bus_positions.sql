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

-- Down Migration
ALTER TABLE alert_ids DROP COLUMN bus_offset, DROP COLUMN bus_epoch;
