-- Up Migration
CREATE TYPE host_status AS ENUM ('online', 'offline');

CREATE TABLE hosts (
  host_id          uuid PRIMARY KEY,
  hostname         text NOT NULL UNIQUE,
  platform         text NOT NULL DEFAULT '',
  agent_version    text NOT NULL DEFAULT '',
  status           host_status NOT NULL DEFAULT 'offline',
  -- SHA-256 of the current agent token; the token itself is never stored.
  agent_token_hash bytea UNIQUE,
  registered_at    timestamptz NOT NULL DEFAULT now(),
  last_seen        timestamptz
);

-- Down Migration
DROP TABLE hosts;
DROP TYPE host_status;
