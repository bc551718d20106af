import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import { type AgentEvent, type AgentEventBatch, ServerCommand } from '@tripwire/proto';
import { type Host, listRules, type NewAlert, type Queryable } from '@tripwire/storage';
import type { Span } from '@tripwire/tracing';
import { clipForEcho } from '@tripwire/wire';
import { CallError } from './agent-auth.js';
import type { AlertIntake } from './alert-intake.js';
import { rejectReason, type ValidationLimits, validateAgentEvent } from './alert-validation.js';
import {
  type BatchOutcome,
  batchContext,
  endBatchSpan,
  recordValidation,
  startBatchSpan,
} from './batch-span.js';
import type { IngestConfig } from './config.js';
import type { HandlerGuard } from './handler-guard.js';
import type { HostLiveness } from './host-liveness.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { MalformedMessage } from './malformed-message.js';
import { rulesCommand } from './rule-commands.js';
import { WriteBudget } from './write-budget.js';

const MAX_PINGS_IN_FLIGHT = 8;

export type StreamMethod = 'StreamAlerts' | 'StreamAlertBatches';

export interface AgentStreamDeps {
  db: Queryable;
  intake: AlertIntake;
  liveness: HostLiveness;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  limits: ValidationLimits & {
    maxUnacked: number;
    maxEventsPerBatch: number;
    pingIntervalMs: number;
    /** Bytes written to the agent and not yet taken by it, past which it is cut off. */
    maxBufferedBytes: number;
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
  maxBufferedBytes: config.AGENT_STREAM_MAX_BUFFERED_BYTES,
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
  private readonly writes: WriteBudget<ServerCommand>;

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
    this.writes = new WriteBudget(call, deps.limits.maxBufferedBytes);
  }

  /** Resolves once the call has ended, however it ended. */
  get closedPromise(): Promise<void> {
    return this.whenClosed;
  }

  start(): void {
    const { deps, call } = this;
    deps.liveness.streamOpened(this.host);
    deps.metrics.connectedAgents.inc();
    this.unsubscribeDrain = deps.onStorageDrain(() =>
      this.guarded('resume', () => this.maybeResume()),
    );
    this.pingTimer = setInterval(
      () => this.guarded('ping', () => this.ping()),
      deps.limits.pingIntervalMs,
    );
    this.pingTimer.unref();

    // Each callback runs guarded: an exception ends this call with INTERNAL, not the process.
    // biome-ignore lint/suspicious/noExplicitAny: each event's argument type is its own
    const on = (event: string, handle: (arg: any) => void) =>
      call.on(event, (arg: unknown) => this.guarded(event, () => handle(arg)));
    on('data', (message: AgentEvent | AgentEventBatch | MalformedMessage) =>
      this.onMessage(message),
    );
    on('end', () => {
      this.clientDone = true;
      this.finishIfIdle();
    });
    on('cancelled', () => this.cleanup('cancelled by agent'));
    on('close', () => this.cleanup('closed'));
    // What arrives here is an Error from grpc-js or the {code, details} that fail() emitted.
    on('error', (err: { message?: string; details?: string }) =>
      this.cleanup(`error: ${clipForEcho(String(err.message ?? err.details), 200)}`),
    );
    call.resume();

    this.refreshRules();
  }

  private onMessage(message: AgentEvent | AgentEventBatch | MalformedMessage): void {
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
    if (batch.events.length > 0) this.onEvents(batch.events, batch.traceparent);
  }

  get hostId(): string {
    return this.host.hostId;
  }

  /** Sends the host's complete current rule set (on open, and whenever an operator changes it). */
  refreshRules(): void {
    listRules(this.deps.db, this.host.hostId).then(
      (rules) => this.guarded('rules', () => this.send(rulesCommand(rules))),
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

  /** Ends the call now with `error` (a dependency is hung: UNAVAILABLE, see dependency-health.ts). */
  end(error: CallError): void {
    this.fail(error);
  }

  private ping(): void {
    const serverTimeUs = Date.now() * 1000;
    // An agent that never answers (StreamAlerts cannot) must not grow the set.
    if (this.pingsInFlight.size >= MAX_PINGS_IN_FLIGHT) this.pingsInFlight.clear();
    this.pingsInFlight.add(serverTimeUs);
    // A ping is the one message skipped while the agent is not reading.
    this.send({ command: { $case: 'ping', ping: { serverTimeUs } } }, false);
  }

  /** An agent's answer to a ping: observe the round trip. Unknown or repeated values are ignored. */
  private onPong(serverTimeUs: number): void {
    if (!this.pingsInFlight.delete(serverTimeUs)) return;
    this.deps.metrics.agentPingRtt.observe((Date.now() * 1000 - serverTimeUs) / 1e6);
  }

  /** `traceparent`: the batch's trace context (attacker input: checked by startBatchSpan). */
  private onEvents(events: AgentEvent[], traceparent?: string): void {
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
    const span = startBatchSpan(this.method, events.length, traceparent);
    const startedAt = performance.now();
    const accepted: NewAlert[] = [];
    const nowUs = Date.now() * 1000;
    for (const event of events) {
      const v = validateAgentEvent(event, this.host, limits, nowUs);
      if (v.ok) {
        if (v.clipped) metrics.alertsClipped.inc();
        if (v.skewed) metrics.clockSkewAlerts.inc();
        accepted.push(v.alert);
        continue;
      }
      const reason = rejectReason(v.code);
      metrics.alertsRejected.inc({ reason });
      // v.alertId and v.reason quote the client's values clipped (MAX_ECHO_LENGTH).
      this.log.info({ alertId: v.alertId, reason, detail: v.reason }, 'alert rejected');
      this.send({
        command: {
          $case: 'rejection',
          rejection: { alertId: v.alertId, code: v.code, reason: v.reason },
        },
      });
    }
    const outcome = { accepted: accepted.length, rejected: events.length - accepted.length };
    recordValidation(span, startedAt, outcome);
    if (accepted.length > 0) this.commit(accepted, span, outcome);
    else endBatchSpan(span, outcome);
  }

  /** Stores and publishes `accepted`, then acknowledges them; `span` (the batch's) ends with the ack. */
  private commit(accepted: NewAlert[], span: Span | undefined, outcome: BatchOutcome): void {
    const n = accepted.length;
    this.unacked += n;
    const work = this.deps.intake.commit(this.host, accepted, batchContext(span)).then(
      (result) =>
        this.guarded('ack', () => {
          endBatchSpan(span, outcome);
          const alertIds = result.stored.map((s) => s.alertId).concat(result.duplicates);
          this.send({ command: { $case: 'ack', ack: { alertIds } } });
        }),
      (err: Error) => {
        endBatchSpan(span, { ...outcome, error: 'database_unavailable' });
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
      this.guarded('ack', () => {
        this.maybeResume();
        this.finishIfIdle();
      });
    });
    this.outstanding.add(tracked);
    if (this.unacked >= this.deps.limits.maxUnacked || this.deps.intake.saturated) this.pause();
  }

  /** Runs `fn` for this stream; an exception ends the call with INTERNAL, counted, the process unharmed. */
  private guarded(step: string, fn: () => void): void {
    this.deps.guard.run(`${this.method}.${step}`, fn, (error) => this.fail(error));
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

  /** Writes one command within the stream's byte budget; an agent that stopped reading is cut off. */
  private send(command: ServerCommand, essential = true): void {
    if (this.closed) return;
    const bytes = ServerCommand.encode(command).finish().length;
    if (this.writes.write(command, bytes, essential) !== 'over_budget') return;
    this.deps.metrics.limitsHit.inc({ limit: 'agent_stream_budget' });
    this.fail(
      new CallError(
        status.RESOURCE_EXHAUSTED,
        `this agent stopped reading its stream: more than ${this.deps.limits.maxBufferedBytes} bytes ` +
          'of acknowledgements and commands were waiting; reconnect and resend anything unacknowledged',
        'slow_reader',
      ),
    );
  }

  private fail(error: CallError): void {
    if (this.closed) return;
    this.deps.metrics.callsRefused.inc({ method: this.method, reason: error.reason });
    // Closed first, so nothing the 'error' listeners do can fail this stream a second time.
    this.cleanup(error.reason);
    // grpc-js turns an 'error' on a server stream into the call's final status.
    this.call.emit('error', { code: error.code, details: error.message });
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
