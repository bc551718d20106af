import type { Bus, BusSubscriber } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { AgentStream } from './agent-stream.js';
import type { IncidentStreams } from './incident-streams.js';
import type { SuppressionCache } from './suppression-cache.js';

export interface ControlFeedDeps {
  bus: Bus;
  keyPrefix: string;
  /** The open agent streams, told to fetch their rules again. */
  agentStreams: ReadonlySet<AgentStream>;
  incidentStreams: IncidentStreams;
  /** Reloaded when an operator changes suppressions. */
  suppressions: Pick<SuppressionCache, 'reload'>;
  log: Logger;
  /** Told when a read of the stream failed (a hung Redis: the reply deadline passed). */
  onReadFailed: (err: Error) => void;
}

/**
 * Operators change rules through the fan-out API, which announces them on the bus's control
 * stream (not the alert stream, so this never reads alerts); push the new rule set to that
 * host's connected agents (every agent, for a global rule). Suppression changes make the
 * cache reload (suppression-cache.ts). Incident changes, from every
 * ingest instance and the fan-out, arrive there too, for StreamIncidents.
 */
export function createControlFeed({
  bus,
  keyPrefix,
  agentStreams,
  incidentStreams,
  suppressions,
  log,
  onReadFailed,
}: ControlFeedDeps): BusSubscriber {
  return bus.subscriber({
    keyPrefix,
    stream: 'control',
    from: 'latest',
    onEntries: (entries) => {
      for (const { message } of entries) {
        if (message.type === 'incident') incidentStreams.deliver(message.data);
        if (message.type === 'suppressions') void suppressions.reload();
        if (message.type !== 'rules') continue;
        for (const stream of agentStreams) {
          if (message.data.host_id === null || message.data.host_id === stream.hostId)
            stream.refreshRules();
        }
      }
    },
    onError: (err) => {
      onReadFailed(err);
      log.warn({ err: err.message }, 'following the control stream failed; retrying');
    },
  });
}
