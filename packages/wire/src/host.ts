/** PostgreSQL's host_status enum: online while one of the host's streams is open. */
export type HostStatus = 'online' | 'offline';

/**
 * A host going online (a stream opened) or offline (its last stream closed): the `data`
 * of a WebSocket `host` frame and of the bus's host message.
 */
export interface HostEventData {
  host_id: string;
  hostname: string;
  status: HostStatus;
  platform: string;
  agent_version: string;
  last_seen: string | null;
  /**
   * hosts.status_version after this change. Instances publish in no particular order: of two
   * messages for one host, the one with the higher version is the newer state.
   */
  version: number;
}
