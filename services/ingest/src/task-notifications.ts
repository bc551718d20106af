import type { Logger } from '@tripwire/logger';
import {
  type Pool,
  type PoolClient,
  parseTaskNotification,
  TASK_NOTIFY_CHANNEL,
  type TaskNotification,
} from '@tripwire/storage';

/** Wait before listening again after the connection failed (PostgreSQL restarting). */
const RELISTEN_DELAY_MS = 1_000;

/**
 * LISTENs on the task channel on a connection of its own. NOTIFY arrives only after the
 * change's transaction committed, whoever made it (this instance, another one, the fan-out's
 * REST API), so a task announced here can always be read. A notification sent while the
 * connection was down is lost: `onListening` runs after every (re)connect so the owner makes a
 * full pass, and the sweeper's periodic pass covers the rest.
 */
export class TaskNotifications {
  private client: PoolClient | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** A connection lost during LISTEN reports twice (its 'error' event, the query's rejection): released once. */
  private readonly released = new WeakSet<PoolClient>();

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly onNotification: (n: TaskNotification) => void,
    private readonly onListening: () => void,
  ) {}

  start(): void {
    void this.listen();
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    let client: PoolClient | null = null;
    try {
      client = await this.pool.connect();
      client.on('notification', (msg) => {
        if (msg.channel !== TASK_NOTIFY_CHANNEL) return;
        const n = parseTaskNotification(msg.payload);
        if (n) this.onNotification(n);
      });
      client.on('error', (err) => this.lost(client, err));
      await client.query(`LISTEN ${TASK_NOTIFY_CHANNEL}`);
      if (this.stopped) {
        this.release(client);
        return;
      }
      this.client = client;
      this.onListening();
    } catch (err) {
      this.lost(client, err as Error);
    }
  }

  private lost(client: PoolClient | null, err: Error): void {
    // The second report of one loss: the first already released it and scheduled the retry.
    if (client && !this.release(client)) return;
    if (this.stopped) return;
    this.log.warn({ err: err.message }, 'listening for task changes failed; retrying');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.listen(), RELISTEN_DELAY_MS);
    this.retry.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.client) this.release(this.client);
  }

  /** Destroys the connection (LISTEN state must not go back to the pool); false if already done. */
  private release(client: PoolClient): boolean {
    if (this.released.has(client)) return false;
    this.released.add(client);
    if (this.client === client) this.client = null;
    client.release(true);
    return true;
  }
}
