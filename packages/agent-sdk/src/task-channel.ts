import { type ChannelCredentials, type ChannelOptions, status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import { TaskServiceClient } from '@tripwire/proto';
import type { AgentCredentials } from './agent-state.js';
import { type BackoffOptions, ReconnectBackoff } from './reconnect-backoff.js';
import { endStream } from './stream-end.js';
import { TaskDispatcher, type TaskDispatcherStats } from './task-dispatcher.js';
import type { TaskJournal } from './task-journal.js';
import type { TaskRunner } from './task-runner.js';
import { TaskStream } from './task-stream.js';

export interface TaskChannelOptions {
  /** The ingest addresses, tried in turn (round robin) like the alert stream's. */
  servers: string[];
  channelCredentials: ChannelCredentials;
  channelOptions: ChannelOptions;
  /** The current agent credentials (they change when the alert client registers again). */
  credentials: () => AgentCredentials | undefined;
  runner: TaskRunner;
  journal: TaskJournal;
  log: Logger;
  backoff?: BackoffOptions;
}

export interface TaskChannelStats extends TaskDispatcherStats {
  connected: boolean;
  running: number;
  reconnects: number;
}

/** A stream this old (after the server first spoke) counts as healthy: the backoff starts over. */
const HEALTHY_AFTER_MS = 10_000;
const STOP_GRACE_MS = 5_000;

/**
 * The agent's end of TaskService.StreamTasks: connects with the agent token, reports the
 * policy, resends unacknowledged outcomes, hands requests to the dispatcher, and reconnects with
 * backoff however the stream ends. Keepalive is the channel's HTTP/2 pings (channelOptions).
 */
export class TaskChannel {
  private readonly dispatcher: TaskDispatcher;
  private readonly backoff: ReconnectBackoff;
  private stream: TaskStream | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;
  private serverIndex = 0;
  private reconnects = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: TaskChannelOptions) {
    this.backoff = new ReconnectBackoff(options.backoff);
    this.dispatcher = new TaskDispatcher({
      runner: options.runner,
      journal: options.journal,
      log: options.log,
      send: (response) => this.stream?.send(response) ?? false,
    });
  }

  stats(): TaskChannelStats {
    return {
      ...this.dispatcher.stats,
      connected: this.stream?.established ?? false,
      running: this.dispatcher.runningCount,
      reconnects: this.reconnects,
    };
  }

  start(): void {
    if (this.loop) throw new Error('the task channel was already started');
    this.unsubscribe = this.options.runner.onPolicyChange?.(() => {
      const policy = this.options.runner.policy();
      this.options.log.info({ killSwitch: policy.killSwitch }, 'task policy changed');
      this.stream?.sendPolicy(policy);
    });
    this.loop = this.connectLoop();
  }

  /** Running tasks are stopped (their outcomes journaled and, if connected, sent), then the stream ends. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    await this.dispatcher.stop();
    this.stopping = true;
    this.unsubscribe?.();
    this.wake?.();
    if (this.stream) await endStream(this.stream, STOP_GRACE_MS);
    await this.loop;
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      if (attempt > 0) this.reconnects++;
      const credentials = this.options.credentials();
      const healthy = credentials ? await this.streamOnce(credentials) : false;
      if (this.stopping) break;
      if (healthy) this.backoff.reset();
      this.serverIndex = (this.serverIndex + 1) % this.options.servers.length;
      await this.pause(this.backoff.next());
    }
  }

  private pause(delayMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.wake = undefined;
    });
  }

  private async streamOnce(credentials: AgentCredentials): Promise<boolean> {
    const { log, runner, journal } = this.options;
    const server = this.options.servers[this.serverIndex]!;
    const client = new TaskServiceClient(
      server,
      this.options.channelCredentials,
      this.options.channelOptions,
    );
    const stream = new TaskStream({
      client,
      agentToken: credentials.agentToken,
      policy: runner.policy(),
      onRequest: (request) => this.dispatcher.handle(request),
      onOutcomeAck: (ids) => {
        journal
          .acknowledge(ids)
          .catch((err: unknown) => log.error({ err }, 'cannot record acknowledged outcomes'));
      },
    });
    this.stream = stream;
    // Outcomes the server may not have (finished offline, or before a restart) go first.
    for (const outcome of journal.unacknowledged()) stream.send(outcome);
    const end = await stream.ended;
    if (this.stream === stream) this.stream = undefined;
    client.close();
    const lived = Date.now() - stream.openedAt;
    const fields = { code: status[end.code], details: end.details, lived, server };
    if (!(this.stopping && end.code === status.OK)) {
      if (end.code === status.UNIMPLEMENTED)
        log.warn(fields, 'the server has no TaskService (older ingest); will try again');
      else log.warn(fields, 'task stream ended; will reconnect');
    }
    return stream.established && lived >= HEALTHY_AFTER_MS;
  }
}
