import { randomInt } from 'node:crypto';
import type { Logger } from '@tripwire/logger';
import {
  claimIngestInstance,
  forgetIngestInstance,
  type Pool,
  type PoolClient,
  reclaimIngestInstance,
} from '@tripwire/storage';

/** Ids are drawn from 1..2^31-1 (the advisory lock's second key is an int4). */
const MAX_ID = 2 ** 31 - 1;
const CLAIM_ATTEMPTS = 5;
const RECONNECT_MS = 1_000;

/**
 * This process's registration as an ingest instance (migration 0014): a PostgreSQL session of its
 * own that holds the instance's advisory lock for as long as the process lives. The session ends
 * with the process however it ends (kill -9 included), the lock with it, and a surviving
 * instance's republish sweep then knows this one is gone (RepublishSweep). The id also goes into
 * every connection of the main pool (INGEST_INSTANCE_SETTING), so the ledger records which
 * instance stored each alert.
 *
 * The session is also where the sweep takes its turn and probes the others (advisory locks are
 * per session). If it breaks (a network cut, PostgreSQL restarting) it is opened again and the
 * lock taken again, every second until that works; meanwhile a sweeper may find this instance
 * dead, and after INGEST_SWEEP_GRACE_MS republish what it has not published yet (the fan-out
 * drops the second copy).
 */
export class InstanceLifeline {
  private client: PoolClient | null;
  private stopped = false;
  private reconnecting: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    readonly instanceId: number,
    client: PoolClient,
  ) {
    this.client = null;
    this.hold(client);
  }

  /** Registers a new instance with a fresh id on a session of `pool` (a pool of its own, max 1). */
  static async claim(pool: Pool, log: Logger): Promise<InstanceLifeline> {
    const client = await connected(pool);
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        const id = randomInt(1, MAX_ID);
        if (await claimIngestInstance(client, id))
          return new InstanceLifeline(pool, log, id, client);
      }
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    client.release();
    throw new Error('could not register an ingest instance id (every one drawn was taken)');
  }

  /** The session holding the lock, or null while it is being opened again. */
  get session(): PoolClient | null {
    return this.client;
  }

  /**
   * At the end of a graceful stop: with nothing left to publish (`clean`) the registration goes;
   * otherwise it stays for a survivor to sweep. Ending the session releases the lock either way.
   */
  async stop(clean: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnecting);
    const client = this.client;
    this.client = null;
    if (!client) return;
    try {
      if (clean) await forgetIngestInstance(client, this.instanceId);
      client.release(true);
    } catch (err) {
      client.release(err as Error);
      this.log.warn({ err: (err as Error).message }, 'could not unregister this ingest instance');
    }
  }

  private hold(client: PoolClient): void {
    this.client = client;
    // 'error' while idle, 'end' however the connection closed (a query's own failure ends it too).
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      client.release(err ?? new Error('connection ended'));
      if (this.stopped) return;
      this.log.warn(
        { err: err?.message, instanceId: this.instanceId },
        'lost the session that says this ingest instance is alive; opening it again',
      );
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.reconnecting = setTimeout(() => void this.reconnect(), RECONNECT_MS);
    this.reconnecting.unref();
  }

  private async reconnect(): Promise<void> {
    let client: PoolClient | undefined;
    try {
      client = await connected(this.pool);
      if (this.stopped) {
        client.release(true);
        return;
      }
      if (await reclaimIngestInstance(client, this.instanceId)) {
        this.hold(client);
        this.log.info({ instanceId: this.instanceId }, 'this ingest instance is registered again');
        return;
      }
      client.release(true);
    } catch (err) {
      client?.release(err as Error);
    }
    this.scheduleReconnect();
  }
}

/**
 * A session taken from the pool, already listening for 'error': a checked-out pg client has no
 * listener of its own, and a connection reset before hold() attached one would end the process.
 * The query under way fails too, which is where the error is handled.
 */
async function connected(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  client.on('error', () => {});
  return client;
}
