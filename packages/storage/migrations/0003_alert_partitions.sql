-- Up Migration

-- Creates the partition for the UTC month holding month_start, moving any rows
-- the default partition already holds for that month (ATTACH would fail otherwise).
CREATE FUNCTION ensure_alert_partition(month_start date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  first_day date := date_trunc('month', month_start)::date;
  part_name text := format('alerts_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
  lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
  hi timestamptz := (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC';
BEGIN
  IF to_regclass(part_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE alerts INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part_name);
  EXECUTE format(
    'WITH moved AS (DELETE FROM alerts_default WHERE received_at >= %L AND received_at < %L RETURNING *)
     INSERT INTO %I SELECT * FROM moved', lo, hi, part_name);
  EXECUTE format('ALTER TABLE alerts ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part_name, lo, hi);
  RETURN true;
END $$;

-- The current month and the next months_ahead months. Safe to call from many
-- instances at once: callers queue on an advisory lock.
CREATE FUNCTION ensure_alert_partitions(months_ahead integer DEFAULT 2) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  created integer := 0;
  this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tripwire.alert_partitions'));
  FOR i IN 0..months_ahead LOOP
    IF ensure_alert_partition((this_month + make_interval(months => i))::date) THEN
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END $$;

-- Retention: drops monthly partitions that end on or before cutoff, and the
-- matching idempotency-ledger and default-partition rows. Returns dropped names.
CREATE FUNCTION drop_alert_partitions_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  month_end timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tripwire.alert_partitions'));
  FOR part IN
    SELECT c.relname FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'alerts'::regclass AND c.relname ~ '^alerts_y\d{4}m\d{2}$'
    ORDER BY c.relname
  LOOP
    month_end := (to_date(substr(part.relname, 9, 4) || substr(part.relname, 14, 2), 'YYYYMM')
                  + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    IF month_end <= cutoff THEN
      EXECUTE format('DROP TABLE %I', part.relname);
      RETURN NEXT part.relname;
    END IF;
  END LOOP;
  DELETE FROM alerts_default WHERE received_at < cutoff;
  DELETE FROM alert_ids WHERE received_at < cutoff;
END $$;

SELECT ensure_alert_partitions(2);

-- Down Migration
DROP FUNCTION drop_alert_partitions_before(timestamptz);
DROP FUNCTION ensure_alert_partitions(integer);
DROP FUNCTION ensure_alert_partition(date);
