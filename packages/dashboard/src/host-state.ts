// Hosts' live state from two sources: `host` frames and /api/hosts lists. Either can arrive
// late (ingest instances publish out of order; a list read may have started before a frame),
// so a host's state is never replaced by one with a lower status_version.
import type { HostEventData } from '@tripwire/wire';
import type { Host } from './api.js';

/** A host frame's `version` is the list's `status_version`. */
export function hostFromFrame(data: HostEventData): Host {
  const { version, ...host } = data;
  return typeof version === 'number' ? { ...host, status_version: version } : host;
}

const older = (incoming: Host, known: Host | undefined) =>
  known?.status_version !== undefined &&
  incoming.status_version !== undefined &&
  incoming.status_version < known.status_version;

/** A host frame applied to what is known of the host; null when the frame is stale. */
export function mergeHostFrame(known: Host | undefined, frame: Host): Host | null {
  if (older(frame, known)) return null;
  return { ...known, ...frame };
}

/** A fresh list, keeping any host state newer than the list's (a frame that overtook it). */
export function mergeHostList(known: Map<string, Host>, list: Host[]): Map<string, Host> {
  return new Map(
    list.map((h) => {
      const k = known.get(h.host_id);
      if (!k || !older(h, k)) return [h.host_id, h];
      return [
        h.host_id,
        { ...h, status: k.status, last_seen: k.last_seen, status_version: k.status_version },
      ];
    }),
  );
}
