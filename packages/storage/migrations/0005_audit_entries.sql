-- Up Migration
-- Append-only, tamper-evident log: each entry's hash covers its content and
-- the previous entry's hash, so editing or deleting any entry breaks the chain.
CREATE TABLE audit_entries (
  seq         bigint PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  host_id     uuid,
  target      text NOT NULL DEFAULT '',
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);
CREATE INDEX audit_entries_occurred_idx ON audit_entries (occurred_at);
CREATE INDEX audit_entries_host_idx ON audit_entries (host_id, occurred_at);

-- The one definition of an entry's hash, used both to append and to verify.
-- Fields are joined with the ASCII unit separator; time is Unix microseconds.
CREATE FUNCTION audit_entry_hash(
  seq bigint, occurred_at timestamptz, actor text, action text, host_id uuid,
  target text, details jsonb, prev_hash text
) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
    seq::text,
    (extract(epoch FROM occurred_at) * 1000000)::bigint::text,
    actor, action, coalesce(host_id::text, ''), target, details::text, prev_hash
  ), 'UTF8')), 'hex')
$$;

-- Appends one entry. The advisory lock is held until the caller's transaction
-- ends, so concurrent writers take turns and the chain never forks.
CREATE FUNCTION append_audit_entry(
  p_actor text, p_action text, p_host_id uuid, p_target text, p_details jsonb
) RETURNS audit_entries LANGUAGE plpgsql AS $$
DECLARE
  last_entry audit_entries;
  entry audit_entries;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tripwire.audit_chain'));
  SELECT * INTO last_entry FROM audit_entries ORDER BY seq DESC LIMIT 1;
  entry.seq := coalesce(last_entry.seq, 0) + 1;
  entry.occurred_at := clock_timestamp();
  entry.actor := p_actor;
  entry.action := p_action;
  entry.host_id := p_host_id;
  entry.target := coalesce(p_target, '');
  entry.details := coalesce(p_details, '{}'::jsonb);
  entry.prev_hash := coalesce(last_entry.hash, repeat('0', 64));
  entry.hash := audit_entry_hash(entry.seq, entry.occurred_at, entry.actor, entry.action,
    entry.host_id, entry.target, entry.details, entry.prev_hash);
  INSERT INTO audit_entries SELECT entry.*;
  RETURN entry;
END $$;

CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_entries is append-only (% refused)', TG_OP;
END $$;

CREATE TRIGGER audit_entries_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only();

-- Down Migration
DROP TABLE audit_entries;
DROP FUNCTION audit_entries_append_only();
DROP FUNCTION append_audit_entry(text, text, uuid, text, jsonb);
DROP FUNCTION audit_entry_hash(bigint, timestamptz, text, text, uuid, text, jsonb, text);
