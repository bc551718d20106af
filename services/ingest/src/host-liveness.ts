import { randomUUID } from 'node:crypto';
import type { BusPublisher, HostEventData } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import {
  adoptHostStream,
  claimHostStream,
  expireHostStreams,
  type Host,
  type Queryable,
  releaseHostStream,
  renewHostStreams,
} from '@tripwire/storage';

export interface HostLivenessTimings {
  /** How often this instance renews the leases of the hosts it has streams for. */
  heartbeatMs: number;
  /** A lease not renewed for this long belongs to a dead instance: its host goes offline. */
  leaseMs: number;
  /** How often this instance looks for expired leases (every instance does). */
  sweepMs: number;
}

/**
 * Host liveness across ingest instances. A host is online while some instance holds its
 * stream lease (hosts.stream_instance, renewed by that instance's heartbeat):
 *
 * - a stream opening here takes the lease (the agent may have moved here from another
 *   instance, whose streams may not have closed yet);
 * - the last stream closing here makes the host offline only if this instance still holds
 *   the lease, so a late close on the instance an agent left changes nothing;
 * - a heartbeat renews every lease held here in one statement, and takes back a lease that
 *   nobody holds while a stream is still open here;
 * - a sweeper on every instance makes offline the hosts whose lease expired: their instance
 *   died (kill -9, a lost machine) without closing its streams.
 *
 * Every change is published as a `host` message carrying the row's status_version, bumped by
 * the same statement: two instances changing a host at once may publish out of order, and
 * the fan-out keeps the higher version. Status writes for one host run one after another
 * here, so a quick close-then-open can never leave the row saying offline.
 */
export class HostLiveness {
  /** This process: a fresh id per start, so a restarted instance never inherits leases. */
  readonly instanceId = randomUUID();
  private readonly open = new Map<string, { host: Host; streams: number }>();
  private readonly writes = new Map<string, Promise<void>>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private heartbeating = false;
  private sweeping = false;

  constructor(
    private readonly db: Queryable,
    private readonly publisher: BusPublisher,
    private readonly log: Logger,
    private readonly timings: HostLivenessTimings,
  ) {}

  /** Starts the heartbeat and the sweeper. */
  start(): void {
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.timings.heartbeatMs);
    this.heartbeatTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), this.timings.sweepMs);
    this.sweepTimer.unref();
  }

  /** Stops the heartbeat and the sweeper (after the streams were drained and released). */
  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
  }

  streamOpened(host: Host): void {
    const entry = this.open.get(host.hostId);
    if (entry) {
      entry.streams++;
      return;
    }
    this.open.set(host.hostId, { host, streams: 1 });
    this.record(host, 'claim');
  }

  streamClosed(host: Host): void {
    const entry = this.open.get(host.hostId);
    if (entry && entry.streams > 1) {
      entry.streams--;
      return;
    }
    this.open.delete(host.hostId);
    this.record(host, 'release');
  }

  /** Waits for every status write started so far. */
  async settle(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  /** One UPDATE renews every lease this instance holds; hosts it lost are taken back if free. */
  async heartbeat(): Promise<void> {
    if (this.heartbeating || this.open.size === 0) return;
    this.heartbeating = true;
    try {
      const renewed = await renewHostStreams(this.db, this.instanceId, [...this.open.keys()]);
      for (const [hostId, { host }] of this.open) {
        if (!renewed.has(hostId)) this.record(host, 'adopt');
      }
    } catch (err) {
      this.log.warn({ err }, 'could not renew host stream leases');
    } finally {
      this.heartbeating = false;
    }
  }

  /** Hosts whose instance stopped renewing their lease go offline. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const expired = await expireHostStreams(this.db, this.timings.leaseMs);
      for (const host of expired) this.publish(host);
      if (expired.length)
        this.log.info(
          { hosts: expired.map((h) => h.hostId) },
          'host stream leases expired (their ingest instance is gone): offline',
        );
    } catch (err) {
      this.log.warn({ err }, 'could not sweep expired host stream leases');
    } finally {
      this.sweeping = false;
    }
  }

  private record(host: Host, change: 'claim' | 'release' | 'adopt'): void {
    const previous = this.writes.get(host.hostId) ?? Promise.resolve();
    const write = previous.then(async () => {
      try {
        let updated: Host | null = null;
        if (change === 'claim')
          updated = await claimHostStream(this.db, host.hostId, this.instanceId);
        else if (change === 'release')
          updated = await releaseHostStream(this.db, host.hostId, this.instanceId);
        // Taken back only while a stream is still open here when the write's turn comes.
        else if (this.open.has(host.hostId))
          updated = await adoptHostStream(this.db, host.hostId, this.instanceId);
        if (updated) this.publish(updated);
      } catch (err) {
        this.log.warn({ err, hostId: host.hostId, change }, 'could not record host status');
      }
    });
    this.writes.set(host.hostId, write);
    void write.then(() => {
      if (this.writes.get(host.hostId) === write) this.writes.delete(host.hostId);
    });
  }

  private publish(host: Host): void {
    const data: HostEventData = {
      host_id: host.hostId,
      hostname: host.hostname,
      status: host.status,
      platform: host.platform,
      agent_version: host.agentVersion,
      last_seen: host.lastSeen?.toISOString() ?? null,
      version: host.statusVersion,
    };
    this.publisher.publish([{ type: 'host', data }]);
  }
}
