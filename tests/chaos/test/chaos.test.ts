// The short configuration of `pnpm chaos`, in `pnpm test`: the same run (real ingest and
// fan-out processes from their builds, agent processes with durable outboxes, resuming
// WebSocket clients, faults from a fixed seed), smaller. One client throws away a few alerts
// on purpose, so the test also proves the checker sees a client-side loss end to end.
import { describe, expect, it } from 'vitest';
import { runChaos } from '../src/chaos-run.js';
import { failures } from '../src/delivery-check.js';
import { FAULT_KINDS, type FaultKind } from '../src/run-options.js';

/**
 * Every fault kind, Redis's included: the duplicates they used to cause here (1–8 per client, now
 * traced and fixed: RELIABILITY.md, "The short run in `pnpm test`") are what this run guards.
 */
const FAULTS: FaultKind[] = [...FAULT_KINDS];
const INJECTED_DROPS = 10;

describe('pnpm chaos, short', () => {
  it('accounts for every alert under kill -9 of every kind of process, PostgreSQL cuts, and Redis restarts, hangs and cuts', async () => {
    const result = await runChaos(
      {
        seed: 20_151,
        alerts: 3_000,
        agents: 4,
        clients: 12,
        durationS: 20,
        faults: FAULTS,
        injectDrop: INJECTED_DROPS,
        busy: 0,
      },
      process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    );
    const { report } = result;
    // Every fault kind asked for really happened.
    expect(new Set(result.faults.map((f) => f.kind))).toEqual(new Set(FAULTS));
    expect(report.generated + report.uncertainStored).toBeGreaterThan(0);
    expect(report.generated).toBeGreaterThanOrEqual(3_000 - report.uncertain);
    // The self-test: exactly the alerts client 1 threw away are reported missing.
    const [first, ...others] = report.clients;
    expect(first!.injectedDrops).toBe(INJECTED_DROPS);
    expect(failures(report)).toEqual([`client-01: missing: ${INJECTED_DROPS}`]);
    expect(others.every((c) => c.expected === c.received)).toBe(true);
  });
});
