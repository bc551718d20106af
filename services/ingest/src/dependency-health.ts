import { status } from '@grpc/grpc-js';
import { redisTimeout } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { DependencyWatches, describeHang, type HangReport } from '@tripwire/probes';
import { alertWritesAnswer, type Pool, postgresTimeout } from '@tripwire/storage';
import { CallError } from './agent-auth.js';
import type { AgentStream } from './agent-stream.js';
import type { IngestConfig } from './config.js';
import { FlushStall } from './flush-stall.js';
import type { IngestMetrics } from './ingest-metrics.js';

export interface DependencyHealthDeps {
  config: Pick<
    IngestConfig,
    'DEPENDENCY_HUNG_AFTER_MS' | 'DEPENDENCY_PROBE_INTERVAL_MS' | 'PG_STATEMENT_TIMEOUT_MS'
  >;
  pool: Pool;
  metrics: IngestMetrics;
  log: Logger;
  /** Alerts waiting for or in a flush (the batcher's `pending`): a stall is looked for while any wait. */
  pendingAlerts: () => number;
  /** When Redis last answered a read (the control stream's subscriber, Date.now() ms). */
  redisLastReadAt: () => number;
  /** The open agent streams: ended UNAVAILABLE when a dependency is declared hung. */
  agentStreams: ReadonlySet<Pick<AgentStream, 'end'>>;
  /** gRPC health: NOT_SERVING while a dependency is hung (true: one recovered; check `hang`). */
  setServing: (serving: boolean) => void;
}

/**
 * What counts as a timeout and as an answer on this ingest instance (DependencyWatch has the
 * rule), and what a hang does: every agent stream ended UNAVAILABLE (hangRefusal), new agent
 * calls refused the same way (alert-service.ts), gRPC health NOT_SERVING, /readyz 503.
 * Timeouts: an alert flush (statement timeout, pool checkout timeout, or stalled: see
 * flush-stall.ts), a publish (Redis command timeout), an acknowledgement that waited its whole
 * bound for its publish, a read of the control stream (the subscriber's reply deadline).
 * Answers: a flush that committed, a publish that landed. Probes: no flush stalled and the
 * locks a flush takes taken within the probe interval; a control stream read after the last
 * timeout.
 */
export class DependencyHealth extends DependencyWatches {
  private readonly stall: FlushStall;
  private readonly stallTimer: NodeJS.Timeout;

  constructor(deps: DependencyHealthDeps) {
    const { config, pool, metrics, log } = deps;
    const stall = new FlushStall(config.PG_STATEMENT_TIMEOUT_MS, config.DEPENDENCY_HUNG_AFTER_MS);
    super({
      hungAfterMs: config.DEPENDENCY_HUNG_AFTER_MS,
      probeIntervalMs: config.DEPENDENCY_PROBE_INTERVAL_MS,
      probes: {
        postgres: async () =>
          !stall.stalled && (await alertWritesAnswer(pool, config.DEPENDENCY_PROBE_INTERVAL_MS)),
        redis: (afterMs) => deps.redisLastReadAt() > afterMs,
      },
      timeoutOf: { postgres: postgresTimeout, redis: redisTimeout },
      onTimeout: (dependency, operation) =>
        metrics.dependencyTimeouts.inc({ dependency, operation }),
      onHung: (report) => {
        log.error(
          { dependency: report.dependency, hang: describeHang(report) },
          'dependency hung: agent streams ended UNAVAILABLE, not ready',
        );
        deps.setServing(false);
        for (const stream of deps.agentStreams) stream.end(hangRefusal(report));
      },
      onRecovered: (report, at) => {
        const hungForMs = at.getTime() - report.since.getTime();
        log.warn({ dependency: report.dependency, hungForMs }, 'dependency answers again');
        deps.setServing(true);
      },
    });
    this.stall = stall;
    this.stallTimer = setInterval(() => {
      if (stall.check(deps.pendingAlerts()))
        this.postgres.timedOut(
          'alert_flush',
          `alerts waited ${stall.stallMs} ms and no flush finished or failed`,
        );
    }, config.DEPENDENCY_PROBE_INTERVAL_MS);
    this.stallTimer.unref();
  }

  /** PublishConfirmations' onWaitExpired: an acknowledgement waited its whole bound for its publish. */
  readonly confirmationExpired = (waitedMs: number): void =>
    this.redis.timedOut(
      'publish_confirmation',
      `an acknowledgement waited ${waitedMs} ms for its publish`,
    );

  /** An alert flush's outcome: committed (an answer), timed out, or failed otherwise (neither). */
  flushed(error: Error | undefined): void {
    this.stall.finished();
    if (error) this.failed('postgres', 'alert_flush', error);
    else this.postgres.answered();
  }

  override stop(): void {
    clearInterval(this.stallTimer);
    super.stop();
  }
}

const DEPENDENCY_NAMES = { postgres: 'PostgreSQL', redis: 'Redis' } as const;

/**
 * The status an agent call gets while a dependency is hung: UNAVAILABLE, so the agent
 * reconnects with backoff to the next ingest address and resends what was not acknowledged.
 */
export function hangRefusal(report: HangReport): CallError {
  return new CallError(
    status.UNAVAILABLE,
    `this ingest instance cannot use ${DEPENDENCY_NAMES[report.dependency]}: ${describeHang(report)}; ` +
      'connect to another ingest instance and resend anything unacknowledged',
    'dependency_hung',
  );
}
