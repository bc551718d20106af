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
      if (this.stopped) return client.release(true);
      this.client = client;
      this.onListening();
    } catch (err) {
      this.lost(client, err as Error);
    }
  }

  private lost(client: PoolClient | null, err: Error): void {
    if (client && this.client === client) this.client = null;
    client?.release(true);
    if (this.stopped) return;
    this.log.warn({ err: err.message }, 'listening for task changes failed; retrying');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.listen(), RELISTEN_DELAY_MS);
    this.retry.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = null;
    client?.release(true);
  }
}
