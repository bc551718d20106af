-- Up Migration
-- Enrollment tokens an admin creates (REST, dashboard, CLI): named, expiring, counted, optionally
-- limited to hostnames matching a glob. Only the token's SHA-256 is stored. ENROLLMENT_TOKEN (env)
-- stays the bootstrap token and has no row here.
CREATE TABLE enrollment_tokens (
  token_id         uuid PRIMARY KEY,
  name             text NOT NULL,
  token_hash       bytea NOT NULL UNIQUE,
  -- A glob (* and ?), matched case-insensitively against the registering hostname; NULL: any.
  hostname_pattern text,
  max_uses         integer NOT NULL CHECK (max_uses > 0),
  -- Counted in the same transaction as the host it enrolled, so concurrent uses never exceed max_uses.
  uses             integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
  expires_at       timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  created_by       text NOT NULL,
  last_used_at     timestamptz,
  revoked_at       timestamptz,
  revoked_by       text
);

CREATE TYPE enrollment_request_state AS ENUM ('pending', 'approved', 'denied');

-- A RegisterAgent for a hostname that already exists, without proof of being that host (its
-- current agent token, or a matching client certificate): it waits here for an admin. The
-- requester is known by the hash of the random key it sent (x-tripwire-enrollment-key), so only
-- the agent that asked can use the approval. Used approvals are deleted (the audit chain keeps them).
CREATE TABLE enrollment_requests (
  request_id          uuid PRIMARY KEY,
  host_id             uuid NOT NULL REFERENCES hosts (host_id) ON DELETE CASCADE,
  hostname            text NOT NULL,
  platform            text NOT NULL DEFAULT '',
  agent_version       text NOT NULL DEFAULT '',
  requester_key_hash  bytea NOT NULL,
  peer                text NOT NULL DEFAULT '',
  -- The managed token it presented; NULL: the bootstrap ENROLLMENT_TOKEN.
  enrollment_token_id uuid REFERENCES enrollment_tokens (token_id) ON DELETE SET NULL,
  state               enrollment_request_state NOT NULL DEFAULT 'pending',
  attempts            integer NOT NULL DEFAULT 1,
  requested_at        timestamptz NOT NULL DEFAULT now(),
  last_attempt_at     timestamptz NOT NULL DEFAULT now(),
  -- Unanswered, or approved and not used, by then: it lapses (the agent must ask again).
  expires_at          timestamptz NOT NULL,
  decided_at          timestamptz,
  decided_by          text,
  UNIQUE (host_id, requester_key_hash)
);

CREATE INDEX enrollment_requests_open_idx ON enrollment_requests (requested_at)
  WHERE state IN ('pending', 'approved');

-- Down Migration
DROP TABLE enrollment_requests;
DROP TYPE enrollment_request_state;
DROP TABLE enrollment_tokens;
