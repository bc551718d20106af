import { EventEmitter } from 'node:events';
import type { BusPublisher } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import {
  expireTasks,
  failDisconnectedTasks,
  type Host,
  hostsWithQueuedTasks,
  notifyTaskChange,
  type Pool,
  renewTaskChannels,
  type TaskNotification,
  taskMessage,
  timeOutTasks,
} from '@tripwire/storage';
import type { TaskEventKind, TaskJson, TaskOutputJson } from '@tripwire/wire';
import type { HandlerGuard } from './handler-guard.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { TaskNotifications } from './task-notifications.js';
import { applyTaskRetention } from './task-retention.js';

const RETENTION_EVERY_MS = 3_600_000;

import { type TaskCall, TaskSession, type TaskSessionDeps } from './task-session.js';

export interface TaskManagerDeps {
  pool: Pool;
  publisher: BusPublisher;
  log: Logger;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  instanceId: string;
  limits: TaskSessionDeps['limits'];
  timings: {
    /** How often expiry, timeouts, disconnected agents and a dispatch pass run. */
    sweepMs: number;
    /** How often this instance renews its task channels (HOST_HEARTBEAT_MS). */
    heartbeatMs: number;
    /** A channel not renewed this long belongs to a dead instance (HOST_LEASE_MS). */
    leaseMs: number;
    timeoutGraceS: number;
    disconnectGraceS: number;
    /** TASK_RETENTION_DAYS: finished tasks older than this are deleted (0: kept). */
    retentionDays: number;
  };
}

/**
 * The task manager of one ingest instance: the task streams open here (one per host: a newer
 * stream of a host replaces the older), what they must do when a task is queued or cancelled
 * anywhere (LISTEN/NOTIFY), and the periodic work every instance shares (expiry, server-side
 * timeouts, agents gone past the grace period, channel heartbeats). Every change is published
 * as a `task` bus message and to local watchers (WatchTask).
 */
export class TaskManager {
  private readonly sessions = new Map<string, TaskSession>();
  /** Emits the task id on every change of a task made here: WatchTask wakes up at once. */
  readonly changes = new EventEmitter().setMaxListeners(0);
  private readonly notifications: TaskNotifications;
  private sweepTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private readonly stopping = new AbortController();
  /** Aborted by stop(): WatchTask calls end (UNAVAILABLE) so shutdown need not wait for them. */
  get stopSignal(): AbortSignal {
    return this.stopping.signal;
  }

  constructor(private readonly deps: TaskManagerDeps) {
    this.notifications = new TaskNotifications(
      deps.pool,
      deps.log,
      (n) => this.notified(n),
      () => this.dispatchAll(),
    );
  }

  get size(): number {
    return this.sessions.size;
  }

  start(): void {
    this.notifications.start();
    this.sweepTimer = setInterval(() => void this.sweep(), this.deps.timings.sweepMs);
    this.sweepTimer.unref();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.deps.timings.heartbeatMs);
    this.heartbeatTimer.unref();
    this.retentionTimer = setInterval(() => void this.retention(), RETENTION_EVERY_MS);
    this.retentionTimer.unref();
    void this.retention();
  }

  private async retention(): Promise<void> {
    await applyTaskRetention(this.deps.pool, this.deps.timings.retentionDays, this.deps.log).catch(
      (err) => {
        this.deps.metrics.taskSweepFailures.inc();
        this.deps.log.warn({ err }, 'task retention failed; retried in an hour');
      },
    );
  }

  /** Stops listening and sweeping and ends every task stream (agents reconnect elsewhere). */
  stop(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.retentionTimer);
    this.notifications.stop();
    this.stopping.abort();
    for (const session of [...this.sessions.values()]) session.end();
  }

  /** A StreamTasks call authenticated as `host`. */
  async open(host: Host, call: TaskCall): Promise<void> {
    const session = new TaskSession(host, call, {
      ...this.deps,
      publish: (event, task, output) => this.publish(event, task, output),
      closed: (s) => {
        if (this.sessions.get(s.hostId) === s) this.sessions.delete(s.hostId);
      },
    });
    const previous = this.sessions.get(host.hostId);
    this.sessions.set(host.hostId, session);
    previous?.end();
    try {
      await session.open();
    } catch (err) {
      if (this.sessions.get(host.hostId) === session) this.sessions.delete(host.hostId);
      throw err;
    }
  }

  publish(event: TaskEventKind, task: TaskJson, output?: TaskOutputJson): void {
    this.deps.publisher.publish([taskMessage(event, task, output)]);
    if (event === 'finished') this.deps.metrics.tasksFinished.inc({ state: task.state });
    if (output) this.deps.metrics.taskOutputBytes.inc({ stream: output.stream }, output.bytes);
    this.changes.emit(task.task_id);
  }

  private notified(n: TaskNotification): void {
    const session = this.sessions.get(n.host_id);
    if (!session) return;
    if (n.kind === 'queued') session.dispatch();
    else
      session
        .relayCancel(n.task_id)
        .catch((err) =>
          this.deps.log.warn(
            { err, taskId: n.task_id },
            'could not relay a cancel; the timeout ends the task',
          ),
        );
  }

  private dispatchAll(): void {
    for (const session of this.sessions.values()) session.dispatch();
  }

  /** Expiry, server-side timeouts and disconnected agents, then a dispatch pass (a backstop for a lost NOTIFY). */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    const { pool, timings } = this.deps;
    try {
      for (const task of await expireTasks(pool)) this.publish('finished', task);
      for (const task of await timeOutTasks(pool, timings.timeoutGraceS)) {
        this.publish('finished', task);
        await this.cancelTimedOut(task);
      }
      const failed = await failDisconnectedTasks(
        pool,
        timings.disconnectGraceS,
        timings.leaseMs / 1000,
      );
      for (const task of failed) this.publish('finished', task);
      // The backstop for a lost notification: only the hosts here that have something queued.
      const queued = await hostsWithQueuedTasks(pool, [...this.sessions.keys()]);
      for (const hostId of queued) this.sessions.get(hostId)?.dispatch();
    } catch (err) {
      this.deps.metrics.taskSweepFailures.inc();
      this.deps.log.warn({ err }, 'task sweep failed; retried next tick');
    } finally {
      this.sweeping = false;
    }
  }

  /** The agent may still run a task the server timed out: cancel it there, wherever its stream is. */
  private async cancelTimedOut(task: TaskJson): Promise<void> {
    const session = this.sessions.get(task.host_id);
    if (session) {
      session.sendCancel(task.task_id, 'timed out on the server', 'timeout');
      session.dispatch();
    } else {
      await notifyTaskChange(this.deps.pool, {
        host_id: task.host_id,
        task_id: task.task_id,
        kind: 'cancel',
      });
    }
  }

  /** Renews the channels held here; a session whose channel another stream took is ended. */
  async heartbeat(): Promise<void> {
    if (this.sessions.size === 0) return;
    // A session still taking its channel is not checked: it holds none yet.
    const sessions = [...this.sessions.values()].filter((s) => s.opened);
    try {
      const held = await renewTaskChannels(
        this.deps.pool,
        sessions.map((s) => s.streamId),
      );
      for (const s of sessions) if (!held.has(s.hostId)) s.end();
    } catch (err) {
      this.deps.metrics.taskSweepFailures.inc();
      this.deps.log.warn({ err }, 'could not renew task channels');
    }
  }
}
