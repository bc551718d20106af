import type { AgentRule, AlertDraft, TripwireTypeName } from '@tripwire/agent-sdk';
import { createLogger } from '@tripwire/logger';
import type { SensorContext } from '../../src/sensors/index.js';

export interface RecordingContext {
  ctx: SensorContext;
  alerts: AlertDraft[];
  /** Alerts whose detail matches every given key. */
  matching(detail: Record<string, unknown>): AlertDraft[];
}

export function recordingContext(): RecordingContext {
  const alerts: AlertDraft[] = [];
  return {
    ctx: {
      emit: (draft) => alerts.push(draft),
      log: createLogger({ name: 'sensor-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    },
    alerts,
    matching: (detail) =>
      alerts.filter((a) => Object.entries(detail).every(([k, v]) => a.detail[k] === v)),
  };
}

let nextRule = 0;

export function rule(
  tripwireType: TripwireTypeName,
  target: string,
  extra: Partial<AgentRule> = {},
): AgentRule {
  nextRule++;
  return {
    ruleId: `rule-${nextRule}`,
    hostId: null,
    name: `${tripwireType.toLowerCase()}-rule-${nextRule}`,
    tripwireType,
    severity: 'CRITICAL',
    target,
    config: {},
    enabled: true,
    ...extra,
  };
}

/** Polls `check` until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Gives a sensor time to have seen (and not reported) something: proving a negative needs a wait. */
export function settle(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
