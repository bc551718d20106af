import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { AgentEvent, AgentEventBatch, ServerCommand } from '@tripwire/proto';
import { type Host, listRules, type NewAlert, type Queryable } from '@tripwire/storage';
import { CallError } from './agent-auth.js';
import type { AlertIntake } from './alert-intake.js';
import { rejectReason, type ValidationLimits, validateAgentEvent } from './alert-validation.js';
import type { IngestConfig } from './config.js';
import type { HostLiveness } from './host-liveness.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';
import { rulesCommand } from './rule-commands.js';

const MAX_PINGS_IN_FLIGHT = 8;

export type StreamMethod = 'StreamAlerts' | 'StreamAlertBatches';

export interface AgentStreamDeps {
  db: Queryable;
  intake: AlertIntake;
  liveness: HostLiveness;
  metrics: IngestMetrics;
  limits: ValidationLimits & {
    maxUnacked: number;
    maxEventsPerBatch: number;
    pingIntervalMs: number;
  };
  /** Subscribe to "storage caught up" notifications; returns an unsubscribe. */
  onStorageDrain: (listener: () => void) => () => void;
}

/** The configured bounds of an agent stream and of each alert on it. */
export const agentStreamLimits = (config: IngestConfig): AgentStreamDeps['limits'] => ({
  maxEventDetailBytes: config.MAX_EVENT_DETAIL_BYTES,
  maxFutureSkewMs: config.MAX_FUTURE_SKEW_MS,
  maxUnacked: config.STREAM_MAX_UNACKED,
  maxEventsPerBatch: config.MAX_EVENTS_PER_BATCH,
  pingIntervalMs: config.PING_INTERVAL_MS,
});

/**
 * One open agent stream. Valid alerts go to the shared intake; each is
 * acknowledged after its COMMIT, invalid ones are rejected by id while the
 * stream stays open. Reading stops (HTTP/2 flow control then holds the agent
 * back) while this stream has too much unacknowledged or storage is saturated.
 */
export class AgentStream {
  private unacked = 0;
  private readonly outstanding = new Set<Promise<void>>();
  private paused = false;
  private clientDone = false;
  private draining = false;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  /** server_time_us of pings not answered yet; only these count as pongs (bounded). */
  private readonly pingsInFlight = new Set<number>();
  private unsubscribeDrain: (() => void) | undefined;
  private readonly whenClosed: Promise<void>;
  private markClosed!: () => void;

  constructor(
    private readonly call: ServerDuplexStream<AgentEvent | AgentEventBatch, ServerCommand>,
    private readonly host: Host,
    private readonly method: StreamMethod,
    private readonly deps: AgentStreamDeps,
    private readonly log: Logger,
  ) {
    this.whenClosed = new Promise((r) => {
      this.markClosed = r;
    });
  }

  /** Resolves once the call has ended, however it ended. */
  get closedPromise(): Promise<void> {
    return this.whenClosed;
  }

  start(): void {
    const { deps, call } = this;
    deps.liveness.streamOpened(this.host);
    deps.metrics.connectedAgents.inc();
    this.unsubscribeDrain = deps.onStorageDrain(() => this.maybeResume());
    this.pingTimer = setInterval(() => this.ping(), deps.limits.pingIntervalMs);
    this.pingTimer.unref();

    call.on('data', (message) => {
      if (message instanceof MalformedMessage) {
        this.fail(new CallError(status.INVALID_ARGUMENT, message.describe(), 'malformed_message'));
        return;
      }
      if (this.method === 'StreamAlerts') {
        this.onEvents([message as AgentEvent]);
        return;
      }
      const batch = message as AgentEventBatch;
      if (batch.pongServerTimeUs) this.onPong(batch.pongServerTimeUs);
      if (batch.events.length > 0) this.onEvents(batch.events);
    });
    call.on('end', () => {
      this.clientDone = true;
      this.finishIfIdle();
    });
    call.on('cancelled', () => this.cleanup('cancelled by agent'));
    call.on('close', () => this.cleanup('closed'));
    call.on('error', (err) => this.cleanup(`error: ${err.message}`));
    call.resume();

    this.refreshRules();
  }

  get hostId(): string {
    return this.host.hostId;
  }

  /** Sends the host's complete current rule set (on open, and whenever an operator changes it). */
  refreshRules(): void {
    listRules(this.deps.db, this.host.hostId).then(
      (rules) => this.send(rulesCommand(rules)),
      (err) => this.log.warn({ err }, 'could not load rules for the agent'),
    );
  }

  /** Shutdown: stop reading, let every received alert commit and be acknowledged, then end the call. */
  async drain(): Promise<void> {
    if (this.closed) return;
    this.draining = true;
    this.call.pause();
    await Promise.allSettled([...this.outstanding]);
    this.fail(
      new CallError(
        status.UNAVAILABLE,
        'this ingest instance is shutting down: reconnect and resend anything unacknowledged',
        'shutdown',
      ),
    );
  }

  private ping(): void {
    const serverTimeUs = Date.now() * 1000;
    // An agent that never answers (StreamAlerts cannot) must not grow the set.
    if (this.pingsInFlight.size >= MAX_PINGS_IN_FLIGHT) this.pingsInFlight.clear();
    this.pingsInFlight.add(serverTimeUs);
    this.send({ command: { $case: 'ping', ping: { serverTimeUs } } });
  }

  /** An agent's answer to a ping: observe the round trip. Unknown or repeated values are ignored. */
  private onPong(serverTimeUs: number): void {
    if (!this.pingsInFlight.delete(serverTimeUs)) return;
    this.deps.metrics.agentPingRtt.observe((Date.now() * 1000 - serverTimeUs) / 1e6);
  }

  private onEvents(events: AgentEvent[]): void {
    if (this.closed || this.draining) return;
    const { limits, metrics } = this.deps;
    if (events.length > limits.maxEventsPerBatch) {
      this.fail(
        new CallError(
          status.RESOURCE_EXHAUSTED,
          `a batch may carry at most ${limits.maxEventsPerBatch} events; this one had ${events.length}`,
          'batch_too_large',
        ),
      );
      return;
    }
    metrics.alertsReceived.inc({ method: this.method }, events.length);
    const accepted: NewAlert[] = [];
    const nowUs = Date.now() * 1000;
    for (const event of events) {
      const v = validateAgentEvent(event, this.host, limits, nowUs);
      if (v.ok) {
        accepted.push(v.alert);
        continue;
      }
      const reason = rejectReason(v.code);
      metrics.alertsRejected.inc({ reason });
      this.log.info({ alertId: v.alertId, reason, detail: v.reason }, 'alert rejected');
      this.send({
        command: {
          $case: 'rejection',
          rejection: { alertId: v.alertId, code: v.code, reason: v.reason },
        },
      });
    }
    if (accepted.length > 0) this.commit(accepted);
  }

  private commit(accepted: NewAlert[]): void {
    const n = accepted.length;
    this.unacked += n;
    const work = this.deps.intake.commit(this.host, accepted).then(
      (result) => {
        const alertIds = result.stored.map((s) => s.alertId).concat(result.duplicates);
        this.send({ command: { $case: 'ack', ack: { alertIds } } });
      },
      (err: Error) => {
        this.log.error({ err }, 'could not store alerts; ending the stream so the agent retries');
        this.fail(
          new CallError(
            status.UNAVAILABLE,
            'alerts could not be stored (database unavailable); nothing unacknowledged was kept: reconnect and resend',
            'database_unavailable',
          ),
        );
      },
    );
    const tracked = work.finally(() => {
      this.unacked -= n;
      this.outstanding.delete(tracked);
      this.maybeResume();
      this.finishIfIdle();
    });
    this.outstanding.add(tracked);
    if (this.unacked >= this.deps.limits.maxUnacked || this.deps.intake.saturated) this.pause();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.call.pause();
    this.deps.metrics.flowControlPauses.inc();
  }

  private maybeResume(): void {
    if (!this.paused || this.closed || this.draining) return;
    if (this.unacked > this.deps.limits.maxUnacked / 2 || this.deps.intake.saturated) return;
    this.paused = false;
    this.call.resume();
  }

  private finishIfIdle(): void {
    if (this.clientDone && this.outstanding.size === 0 && !this.closed) {
      this.call.end();
      this.cleanup('agent finished');
    }
  }

  private send(command: ServerCommand): void {
    if (!this.closed) this.call.write(command);
  }

  private fail(error: CallError): void {
    if (this.closed) return;
    this.deps.metrics.callsRefused.inc({ method: this.method, reason: error.reason });
    // grpc-js turns an 'error' on a server stream into the call's final status.
    this.call.emit('error', { code: error.code, details: error.message });
    this.cleanup(error.reason);
  }

  private cleanup(why: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.unsubscribeDrain?.();
    this.deps.liveness.streamClosed(this.host);
    this.deps.metrics.connectedAgents.dec();
    this.log.info({ why }, 'agent stream ended');
    this.markClosed();
  }
}
