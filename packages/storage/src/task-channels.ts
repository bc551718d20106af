import { isTaskAction, type TaskPolicyJson } from '@tripwire/wire';
import type { Queryable } from './pool.js';

// Each host's task channel (host_task_channels): the one StreamTasks stream that may be sent
// tasks (the newest; an agent reconnecting replaces its old stream), its ingest instance's
// heartbeat, and the policy the agent reported on it. A stream that lost the channel to a
// newer one changes nothing here any more: every write names the stream it comes from.

/** What an agent reports it will run (AgentTaskPolicy), as stored. */
export interface TaskPolicy {
  enabledActions: string[];
  shellRestricted: boolean;
  shellAllowPatterns: string[];
  killSwitch: boolean;
  maxTimeoutSeconds: number;
  defaultTimeoutSeconds: number;
  maxOutputBytes: number;
  maxFetchBytes: number;
  maxConcurrentTasks: number;
}

/** A stream opened on `instanceId`: it holds the host's channel from now on. */
export async function openTaskChannel(
  db: Queryable,
  hostId: string,
  streamId: string,
  instanceId: string,
): Promise<void> {
  await db.query(
    `INSERT INTO host_task_channels (host_id, stream_id, instance_id, seen_at, connected_at, disconnected_at)
     VALUES ($1, $2, $3, now(), now(), NULL)
     ON CONFLICT (host_id) DO UPDATE SET stream_id = $2, instance_id = $3, seen_at = now(),
       connected_at = now(), disconnected_at = NULL`,
    [hostId, streamId, instanceId],
  );
}

/** The stream ended: the channel is free, unless a newer stream holds it already. */
export async function closeTaskChannel(
  db: Queryable,
  hostId: string,
  streamId: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE host_task_channels SET stream_id = NULL, instance_id = NULL, disconnected_at = now()
     WHERE host_id = $1 AND stream_id = $2`,
    [hostId, streamId],
  );
  return (rowCount ?? 0) > 0;
}

/** The heartbeat: renews the channels these streams still hold; returns their host ids. */
export async function renewTaskChannels(db: Queryable, streamIds: string[]): Promise<Set<string>> {
  if (streamIds.length === 0) return new Set();
  const { rows } = await db.query<{ host_id: string }>(
    'UPDATE host_task_channels SET seen_at = now() WHERE stream_id = ANY($1::uuid[]) RETURNING host_id',
    [streamIds],
  );
  return new Set(rows.map((r) => r.host_id));
}

/** Stores the policy the agent reported on this stream (ignored if the stream lost the channel). */
export async function recordTaskPolicy(
  db: Queryable,
  hostId: string,
  streamId: string,
  policy: TaskPolicy,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE host_task_channels SET policy = $3::jsonb, policy_at = now()
     WHERE host_id = $1 AND stream_id = $2`,
    [hostId, streamId, JSON.stringify(policy)],
  );
  return (rowCount ?? 0) > 0;
}

interface ChannelRow {
  host_id: string;
  policy: TaskPolicy;
  policy_at: Date;
  connected: boolean;
}

const toPolicyJson = (r: ChannelRow): TaskPolicyJson => ({
  host_id: r.host_id,
  enabled_actions: r.policy.enabledActions.filter(isTaskAction),
  shell_restricted: r.policy.shellRestricted,
  shell_allow_patterns: r.policy.shellAllowPatterns,
  kill_switch: r.policy.killSwitch,
  max_timeout_seconds: r.policy.maxTimeoutSeconds,
  default_timeout_seconds: r.policy.defaultTimeoutSeconds,
  max_output_bytes: r.policy.maxOutputBytes,
  max_fetch_bytes: r.policy.maxFetchBytes,
  max_concurrent_tasks: r.policy.maxConcurrentTasks,
  reported_at: r.policy_at.toISOString(),
  connected: r.connected,
});

/**
 * The last policy each of these hosts' agents reported (hosts that never reported are left
 * out), and whether a task stream is open now (held, heartbeat within `leaseMs`).
 */
export async function getTaskPolicies(
  db: Queryable,
  hostIds: string[],
  leaseMs = 60_000,
): Promise<TaskPolicyJson[]> {
  const { rows } = await db.query<ChannelRow>(
    `SELECT host_id, policy, policy_at,
       (stream_id IS NOT NULL AND seen_at > now() - make_interval(secs => $2::double precision / 1000)) AS connected
     FROM host_task_channels WHERE host_id = ANY($1::uuid[]) AND policy IS NOT NULL`,
    [hostIds, leaseMs],
  );
  return rows.map(toPolicyJson);
}
