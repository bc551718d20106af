// When each fault happens, to whom and for how long: drawn from the seed, so a run is repeated
// by its seed. Faults fall between 10% and 80% of the generation span, leaving the rest for
// recovery while alerts still flow.
import type { FaultKind } from './run-options.js';
import type { Random } from './seeded-random.js';

export interface ScheduledFault {
  atMs: number;
  kind: FaultKind;
  /** Which instance (ingest/fan-out/agent index); 0 when there is only one. */
  target: number;
  /** How long the thing stays down, frozen or cut. */
  forMs: number;
}

interface FaultPlan {
  /** Occurrences for a run of `durationS` with `agents` agents. */
  count: (durationS: number, agents: number) => number;
  targets: (agents: number) => number;
  forMs: [number, number];
}

/** `n` a minute, at least `min` (so a short run still hits each instance). */
const perMinute =
  (n: number, min = 1) =>
  (durationS: number) =>
    Math.max(min, Math.round((n * durationS) / 60));

const PLANS: Record<FaultKind, FaultPlan> = {
  // Each instance is killed about once a minute and comes back 1-4 s later.
  'ingest-kill': { count: perMinute(2, 2), targets: () => 2, forMs: [1_000, 4_000] },
  'fanout-kill': { count: perMinute(2, 2), targets: () => 2, forMs: [1_000, 4_000] },
  'agent-kill': {
    count: (d, agents) => Math.max(2, Math.round((agents * d) / 240)),
    targets: (agents) => agents,
    forMs: [500, 3_000],
  },
  'redis-restart': { count: (d) => (d >= 180 ? 2 : 1), targets: () => 1, forMs: [500, 2_000] },
  'redis-hang': { count: perMinute(1), targets: () => 1, forMs: [2_000, 6_000] },
  'fanout-redis-cut': { count: perMinute(1), targets: () => 2, forMs: [3_000, 8_000] },
  'pg-cut': { count: perMinute(1), targets: () => 1, forMs: [2_000, 5_000] },
};

export function scheduleFaults(
  kinds: FaultKind[],
  durationS: number,
  agents: number,
  random: Random,
): ScheduledFault[] {
  const faults: ScheduledFault[] = [];
  const span = durationS * 1000;
  for (const kind of kinds) {
    // A generator per kind: `--faults <some> --seed S` repeats exactly those faults of the run
    // with every kind and seed S, which is how one fault of a failing run is looked at alone.
    const draw = random.fork(kind);
    const plan = PLANS[kind];
    const targets = plan.targets(agents);
    const count = plan.count(durationS, agents);
    for (let i = 0; i < count; i++) {
      faults.push({
        atMs: Math.round(span * (0.1 + 0.7 * draw.next())),
        kind,
        // Instances take turns, so each ingest and each fan-out gets its share.
        target: targets <= 2 ? i % targets : draw.int(0, targets - 1),
        forMs: draw.int(...plan.forMs),
      });
    }
  }
  return faults.sort((a, b) => a.atMs - b.atMs);
}
