-- Up Migration
-- Response actions (docs/response-actions.md): tasks an operator runs on an agent, their
-- output, and each host's task channel (which stream holds it, the agent's reported policy).
CREATE TYPE task_state AS ENUM (
  'AWAITING_APPROVAL', 'QUEUED', 'DISPATCHED', 'RUNNING',
  'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'EXPIRED', 'REFUSED');

CREATE TABLE tasks (
  task_id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- A task is only ever created for a registered host (checked at creation); no foreign key,
  -- like alerts and incidents, so a host row's removal never blocks on its history.
  host_id             uuid NOT NULL,
  action              text NOT NULL CHECK (action IN ('process_list', 'network_connections', 'file_hash',
                        'file_fetch', 'kill_process', 'quarantine_file', 'restore_file', 'shell_execute')),
  -- Validated by @tripwire/wire's validateTaskParameters; the size bound is a last line.
  parameters          jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object' AND octet_length(parameters::text) <= 300000),
  state               task_state NOT NULL,
  created_by          text NOT NULL,
  approved_by         text,
  approved_at         timestamptz,
  cancel_requested_by text,
  cancel_requested_at timestamptz,
  cancel_reason       text,
  alert_id            uuid,
  incident_id         uuid,
  timeout_s           integer NOT NULL CHECK (timeout_s BETWEEN 1 AND 86400),
  max_output_bytes    bigint NOT NULL CHECK (max_output_bytes > 0),
  expires_at          timestamptz NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  dispatched_at       timestamptz,
  started_at          timestamptz,
  finished_at         timestamptz,
  -- The stream (and its instance) the task was last sent on; a redelivery after a reconnect bumps the count.
  dispatched_stream   uuid,
  dispatch_count      integer NOT NULL DEFAULT 0,
  exit_code           integer,
  error               text,
  stdout_bytes        bigint NOT NULL DEFAULT 0,
  stderr_bytes        bigint NOT NULL DEFAULT 0,
  file_bytes          bigint NOT NULL DEFAULT 0,
  listing_bytes       bigint NOT NULL DEFAULT 0,
  truncated           boolean NOT NULL DEFAULT false,
  result              jsonb,
  -- Highest agent sequence seen: chunks at or below it were stored already (at-least-once dedupe).
  last_sequence       integer NOT NULL DEFAULT 0,
  -- Bumped by every change: of two copies of a task (bus messages, frames), the higher is newer.
  version             integer NOT NULL DEFAULT 1,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasks_final_has_finish CHECK (
    (state IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'EXPIRED', 'REFUSED')) = (finished_at IS NOT NULL))
);
-- The dispatcher: a host's queue in creation order, and its active tasks.
CREATE INDEX tasks_queue_idx ON tasks (host_id, created_at, task_id) WHERE state = 'QUEUED';
CREATE INDEX tasks_active_idx ON tasks (host_id) WHERE state IN ('DISPATCHED', 'RUNNING');
-- Sweeps: waiting tasks by expiry; listing newest first, by host, state or action.
CREATE INDEX tasks_waiting_expiry_idx ON tasks (expires_at) WHERE state IN ('QUEUED', 'AWAITING_APPROVAL');
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, task_id DESC);
CREATE INDEX tasks_host_created_idx ON tasks (host_id, created_at DESC, task_id DESC);
CREATE INDEX tasks_state_created_idx ON tasks (state, created_at DESC, task_id DESC);
-- Rate limits count an operator's recent creations; retention finds old finished tasks.
CREATE INDEX tasks_creator_idx ON tasks (created_by, created_at DESC);
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_alert_idx ON tasks (alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX tasks_incident_idx ON tasks (incident_id) WHERE incident_id IS NOT NULL;

-- Output chunks, as the agent sent them (cut at the task's cap). Removed with their task.
CREATE TABLE task_output (
  task_id  uuid NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  sequence integer NOT NULL CHECK (sequence >= 0),
  stream   text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'file', 'listing')),
  -- This chunk's offset in its stream's stored bytes.
  "offset" bigint NOT NULL,
  data     bytea NOT NULL,
  PRIMARY KEY (task_id, sequence, stream)
);

-- Each host's task channel: the stream that holds it (one at a time: a newer stream takes it
-- over), its instance's heartbeat, and the policy the agent reported on it.
CREATE TABLE host_task_channels (
  host_id         uuid PRIMARY KEY,
  stream_id       uuid,
  instance_id     text,
  seen_at         timestamptz,
  connected_at    timestamptz,
  disconnected_at timestamptz,
  policy          jsonb,
  policy_at       timestamptz
);

-- The responder role: may run the non-shell actions.
ALTER TABLE operator_sessions DROP CONSTRAINT operator_sessions_role_check,
  ADD CONSTRAINT operator_sessions_role_check CHECK (role IN ('viewer', 'responder', 'admin'));
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check,
  ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('viewer', 'responder', 'admin'));

-- Down Migration
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check,
  ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('viewer', 'admin'));
ALTER TABLE operator_sessions DROP CONSTRAINT operator_sessions_role_check,
  ADD CONSTRAINT operator_sessions_role_check CHECK (role IN ('viewer', 'admin'));
DROP TABLE host_task_channels;
DROP TABLE task_output;
DROP TABLE tasks;
DROP TYPE task_state;
