import {
  type Context,
  contextOf,
  failSpan,
  type Span,
  SpanKind,
  startSpan,
  traceparentContext,
  tracingActive,
} from '@tripwire/tracing';

/** How a batch ended, for its span: counts only (no alert content, no token, no host name). */
export interface BatchOutcome {
  accepted: number;
  rejected: number;
  /** Why it could not be stored (the status the agent got). */
  error?: string;
}

/**
 * The span of one batch from an agent (a StreamAlertBatches message, a StreamAlerts event, a
 * SubmitAlert call), child of the agent's span when `traceparent` (the batch's field, or the
 * call's metadata for SubmitAlert) is a valid one; undefined when tracing is off.
 */
export function startBatchSpan(
  method: string,
  alerts: number,
  traceparent: unknown,
): Span | undefined {
  if (!tracingActive()) return undefined;
  return startSpan(
    'ingest.batch',
    {
      kind: method === 'SubmitAlert' ? SpanKind.SERVER : SpanKind.CONSUMER,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': 'tripwire.v1.AlertService',
        'rpc.method': method,
        'tripwire.batch.alerts': alerts,
      },
    },
    traceparentContext(traceparent),
  );
}

/** The validation of a batch's alerts, as a child span ended at once (validation is synchronous). */
export function recordValidation(
  batch: Span | undefined,
  startedAt: number,
  outcome: BatchOutcome,
): void {
  if (!batch) return;
  const span = startSpan('ingest.validate', { startTime: startedAt }, contextOf(batch));
  span.setAttributes({
    'tripwire.alerts.accepted': outcome.accepted,
    'tripwire.alerts.rejected': outcome.rejected,
  });
  span.end();
}

/** Ends a batch's span with its outcome. */
export function endBatchSpan(batch: Span | undefined, outcome: BatchOutcome): void {
  if (!batch) return;
  batch.setAttributes({
    'tripwire.alerts.accepted': outcome.accepted,
    'tripwire.alerts.rejected': outcome.rejected,
  });
  if (outcome.error) failSpan(batch, outcome.error);
  batch.end();
}

/** The context the intake's spans (commit, publish) start under; undefined when not traced. */
export const batchContext = (batch: Span | undefined): Context | undefined =>
  batch ? contextOf(batch) : undefined;
