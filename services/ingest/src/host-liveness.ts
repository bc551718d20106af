import type { BusPublisher, HostEventData } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { type Host, type Queryable, setHostStatus } from '@tripwire/storage';

/**
 * A host is online while at least one of its streams is open on this
 * instance. Status writes for one host run one after another, so a quick
 * close-then-open can never leave the row saying offline.
 */
export class HostLiveness {
  private readonly openStreams = new Map<string, number>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Queryable,
    private readonly publisher: BusPublisher,
    private readonly log: Logger,
  ) {}

  streamOpened(host: Host): void {
    const n = (this.openStreams.get(host.hostId) ?? 0) + 1;
    this.openStreams.set(host.hostId, n);
    if (n === 1) this.record(host, 'online');
  }

  streamClosed(host: Host): void {
    const n = (this.openStreams.get(host.hostId) ?? 1) - 1;
    if (n > 0) {
      this.openStreams.set(host.hostId, n);
      return;
    }
    this.openStreams.delete(host.hostId);
    this.record(host, 'offline');
  }

  /** Waits for every status write started so far. */
  async settle(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  private record(host: Host, status: 'online' | 'offline'): void {
    const previous = this.writes.get(host.hostId) ?? Promise.resolve();
    const write = previous.then(async () => {
      try {
        const updated = await setHostStatus(this.db, host.hostId, status);
        if (!updated) return;
        const data: HostEventData = {
          host_id: updated.hostId,
          hostname: updated.hostname,
          status: updated.status,
          platform: updated.platform,
          agent_version: updated.agentVersion,
          last_seen: updated.lastSeen?.toISOString() ?? null,
        };
        this.publisher.publish([{ type: 'host', data }]);
      } catch (err) {
        this.log.warn({ err, hostId: host.hostId, status }, 'could not record host status');
      }
    });
    this.writes.set(host.hostId, write);
    void write.then(() => {
      if (this.writes.get(host.hostId) === write) this.writes.delete(host.hostId);
    });
  }
}
