import type { AgentRule, AlertDraft, TripwireTypeName } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';

/** What a sensor gets from the agent: somewhere to send alerts, and a logger. */
export interface SensorContext {
  emit(draft: AlertDraft): void;
  log: Logger;
}

/** One kind of tripwire, watching whatever the current rules of its type name. */
export interface Sensor {
  readonly type: TripwireTypeName;
  /**
   * Takes every active rule (a sensor keeps the enabled ones of its own type) and replaces
   * what it watches at once. The first call, and each target a later call adds, is a silent
   * baseline: nothing that already exists raises an alert. Resolves once the baseline is taken.
   */
  update(rules: AgentRule[]): Promise<void>;
  /** Stops watching and polling; resolves once no more alerts can be emitted. */
  stop(): Promise<void>;
  /** The sensor's counters (rules refused, inputs cut), logged with the client's stats. */
  stats?(): object;
}

/** The rules a sensor of `type` should act on. */
export function rulesOfType(rules: AgentRule[], type: TripwireTypeName): AgentRule[] {
  return rules.filter((r) => r.enabled && r.tripwireType === type);
}

/** Emits without letting a failing consumer break a sensor's loop. */
export function safeEmit(ctx: SensorContext, draft: AlertDraft): void {
  try {
    ctx.emit(draft);
  } catch (err) {
    ctx.log.error({ err, ruleName: draft.ruleName }, 'emitting an alert failed');
  }
}

export function draftFor(rule: AgentRule, detail: Record<string, unknown>): AlertDraft {
  return {
    tripwireType: rule.tripwireType,
    severity: rule.severity,
    ruleName: rule.name,
    detail,
    occurredAt: new Date(),
  };
}
