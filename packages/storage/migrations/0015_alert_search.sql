-- Up Migration
-- Search (GET /api/alerts?q=, docs/fanout.md "Search"): a case-insensitive substring of the
-- rule name or of any key or value in event_detail. The text searched is the rule name as a
-- JSON string followed by event_detail's JSON text, so one pattern (the query JSON-escaped
-- the same way, alert-search.ts) matches both, and a backslash or a quote in a Windows path
-- means the same in the rule name as in the detail. Only replace() and ||: immutable and
-- inlined, so the index below serves every query that spells the same call.
CREATE FUNCTION alert_search_text(rule_name text, event_detail jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '"' || replace(replace(rule_name, '\', '\\'), '"', '\"') || '" ' || coalesce(event_detail::text, '');

-- A trigram GIN index makes `ILIKE '%…%'` an index lookup instead of a scan of the time range
-- (BENCHMARKS.md "Search": 1M alerts). pg_trgm is a trusted extension (PostgreSQL 13+): the
-- owner of the database may create it without being a superuser. Where it cannot be had (an
-- old server, a managed one without it, PGlite without the extension loaded), search still
-- works, by scanning the alerts of the requested time range: the migration says so and goes on.
-- Created on the partitioned table, the index is created on every partition and on each new
-- one as it is attached (0003's ensure_alert_partition).
DO $$
BEGIN
  BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm is unavailable (%): alert search works without an index, by scanning the time range', SQLERRM;
    RETURN;
  END;
  CREATE INDEX alerts_search_trgm_idx ON alerts
    USING gin (alert_search_text(rule_name, event_detail) gin_trgm_ops);
END $$;

-- Down Migration
DROP INDEX IF EXISTS alerts_search_trgm_idx;
DROP FUNCTION alert_search_text(text, jsonb);
