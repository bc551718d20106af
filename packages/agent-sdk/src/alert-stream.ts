import { type ClientDuplexStream, Metadata, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { AgentEventBatch, AlertServiceClient, ServerCommand } from '@tripwire/proto';
import { SpanKind, startSpan, traceparentOf, tracingActive } from '@tripwire/tracing';
import { toAgentEvent } from './alert-wire.js';
import type { Outbox } from './outbox.js';

export interface BatchLimits {
  maxEvents: number;
  maxDelayMs: number;
  /** Bytes of alerts per message (past the first alert), well under the server's message limit. */
  maxBytes: number;
  /** Alerts sent on this stream and not yet acknowledged or rejected. */
  maxInFlight: number;
}

export interface AlertStreamOptions {
  client: AlertServiceClient;
  agentToken: string;
  hostId: string;
  outbox: Outbox;
  limits: BatchLimits;
  onCommand: (command: ServerCommand) => void;
  onSent: (count: number) => void;
  /** The server's clock, from each Ping (the rejection fixes correct a fast clock with it). */
  onServerTime?: (serverTimeUs: number) => void;
  log: Logger;
}

/**
 * One StreamAlertBatches call: sends the outbox from its oldest unacknowledged
 * alert, in batches by size and time, answers pings, and passes every other
 * command on. It ends however the call ends; the client then opens another.
 */
export class AlertStream {
  /** Resolves with the call's final status. */
  readonly ended: Promise<StatusObject>;
  readonly openedAt = Date.now();
  /** The server has said something (it accepted the token). */
  established = false;
  /** The server acknowledged at least one alert on this stream. */
  acknowledged = false;
  private readonly call: ClientDuplexStream<AgentEventBatch, ServerCommand>;
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private finished = false;
  private readonly onAvailable = () => this.schedule();

  constructor(private readonly options: AlertStreamOptions) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${options.agentToken}`);
    this.call = options.client.streamAlertBatches(metadata);
    this.ended = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => {}); // the status says it all
    this.call.on('data', (command: ServerCommand) => this.onData(command));
    void this.ended.then(() => this.stopSending());
    options.outbox.on('available', this.onAvailable);
    // A new stream resends everything not acknowledged, oldest first.
    options.outbox.requeue();
    this.schedule();
  }

  /** Half-close: send nothing more; the server acknowledges what it has, then ends the call. */
  end(): void {
    if (this.finished) return;
    this.stopSending();
    this.call.end();
  }

  cancel(): void {
    this.stopSending();
    this.call.cancel();
  }

  private onData(command: ServerCommand): void {
    this.established = true;
    const c = command.command;
    if (c?.$case === 'ping') {
      this.options.onServerTime?.(c.ping.serverTimeUs);
      if (!this.finished) this.call.write({ events: [], pongServerTimeUs: c.ping.serverTimeUs });
      return;
    }
    if (c?.$case === 'ack') {
      this.acknowledged = true;
      for (const id of c.ack.alertIds) this.inFlight.delete(id);
    }
    if (c?.$case === 'rejection') this.inFlight.delete(c.rejection.alertId);
    this.options.onCommand(command);
    if (c?.$case === 'ack' || c?.$case === 'rejection') this.schedule();
  }

  /** A full batch goes at once; anything less waits up to maxDelayMs for company. */
  private schedule(): void {
    if (this.finished || this.blocked) return;
    const ready = this.options.outbox.readyCount;
    if (ready === 0) return;
    if (ready >= this.options.limits.maxEvents) {
      this.sendReady();
      return;
    }
    this.timer ??= setTimeout(() => this.sendReady(), this.options.limits.maxDelayMs);
  }

  private sendReady(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { outbox, limits, hostId } = this.options;
    while (!this.finished && !this.blocked) {
      const room = limits.maxInFlight - this.inFlightCount();
      if (room <= 0) return;
      const alerts = outbox.next(Math.min(limits.maxEvents, room), limits.maxBytes);
      if (alerts.length === 0) return;
      for (const a of alerts) this.inFlight.add(a.alertId);
      this.options.onSent(alerts.length);
      const events = alerts.map((a) => toAgentEvent(a, hostId));
      if (!this.call.write(tracedBatch(events))) {
        // HTTP/2 flow control: wait until the transport takes more.
        this.blocked = true;
        this.call.once('drain', () => {
          this.blocked = false;
          this.schedule();
        });
      }
    }
  }

  private inFlightCount(): number {
    if (this.inFlight.size >= this.options.limits.maxInFlight) {
      // Alerts dropped on overflow while in flight are never acknowledged here.
      for (const id of this.inFlight) if (!this.options.outbox.has(id)) this.inFlight.delete(id);
    }
    return this.inFlight.size;
  }

  private stopSending(): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.options.outbox.off('available', this.onAvailable);
  }
}

/**
 * A batch with the trace context of its "agent.batch.send" span, when the program started
 * tracing (startTracing from @tripwire/tracing); otherwise the batch as it always was. The span
 * covers the hand-over to gRPC; the ingest service's spans for the batch are its children.
 */
function tracedBatch(events: AgentEventBatch['events']): AgentEventBatch {
  if (!tracingActive()) return { events };
  const span = startSpan('agent.batch.send', {
    kind: SpanKind.PRODUCER,
    attributes: { 'tripwire.batch.alerts': events.length },
  });
  const traceparent = traceparentOf(span);
  span.end();
  return traceparent ? { events, traceparent } : { events };
}
