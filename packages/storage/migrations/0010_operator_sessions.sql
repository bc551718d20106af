-- Up Migration
-- Dashboard sign-ins: the browser's cookie holds a random session id; only its SHA-256 is kept,
-- so a copy of this table signs nobody in. Sign-out, expiry and an admin's revoke-all end a
-- session for every fan-out instance at once, since each request reads this row.
CREATE TABLE operator_sessions (
  id_hash bytea PRIMARY KEY,
  operator_name text NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_name) WHERE revoked_at IS NULL;
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- Tokens for automation: named, with a role and an expiry, revocable one by one. The token itself
-- (twk_…) is shown once at creation; only its SHA-256 is kept.
CREATE TABLE api_tokens (
  token_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'admin')),
  token_hash bytea NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  last_used_at timestamptz
);

-- An admin's "revoke all of operator X": operator JWTs issued up to this instant are refused
-- (JWTs are stateless; this is the one thing that ends a stolen one before its exp).
CREATE TABLE operator_revocations (
  operator_name text PRIMARY KEY,
  revoked_before timestamptz NOT NULL
);

-- Down Migration
DROP TABLE operator_revocations;
DROP TABLE api_tokens;
DROP TABLE operator_sessions;
