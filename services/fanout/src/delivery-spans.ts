import {
  type Span,
  SpanKind,
  startSpan,
  traceparentContext,
  tracingActive,
} from '@tripwire/tracing';

/**
 * The "fanout.deliver" spans of one read from the bus: one span per run of consecutive messages
 * carrying the same traceparent (one ingest publish, normally one agent batch), child of that
 * publish span, not one per message nor per socket. A span per socket per alert would cost
 * subscribers × alerts spans for one uWebSockets.js publish call per topic; this costs one span
 * per traced batch per fan-out node. Null when tracing is off.
 */
export function deliverySpans(): DeliverySpans | null {
  return tracingActive() ? new DeliverySpans() : null;
}

export class DeliverySpans {
  private traceparent: string | undefined;
  private span: Span | undefined;
  private messages = 0;
  private frames = 0;

  /** A message about to be delivered, with the bus entry's traceparent. */
  begin(traceparent: string | undefined): void {
    if (traceparent === this.traceparent && this.span) return;
    this.end();
    this.traceparent = traceparent;
    if (traceparent === undefined) return;
    this.span = startSpan(
      'fanout.deliver',
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'messaging.system': 'redis', 'messaging.operation.type': 'process' },
      },
      traceparentContext(traceparent),
    );
  }

  /** The message went out as `frames` frames (sockets reached, all topics together). */
  delivered(frames: number): void {
    if (!this.span) return;
    this.messages++;
    this.frames += frames;
  }

  /** Ends the open span, if any (at the end of the read). */
  end(): void {
    if (this.span) {
      this.span.setAttributes({
        'messaging.batch.message_count': this.messages,
        'tripwire.frames.sent': this.frames,
      });
      this.span.end();
    }
    this.span = undefined;
    this.traceparent = undefined;
    this.messages = 0;
    this.frames = 0;
  }
}
