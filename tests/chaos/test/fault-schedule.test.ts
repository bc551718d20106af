import { describe, expect, it } from 'vitest';
import { scheduleFaults } from '../src/fault-schedule.js';
import { FAULT_KINDS } from '../src/run-options.js';
import { seededRandom } from '../src/seeded-random.js';

describe('the fault schedule', () => {
  it('is the same for the same seed, and a subset of kinds keeps their exact times', () => {
    const all = scheduleFaults([...FAULT_KINDS], 120, 20, seededRandom(1515));
    expect(scheduleFaults([...FAULT_KINDS], 120, 20, seededRandom(1515))).toEqual(all);
    const hangs = scheduleFaults(['redis-hang'], 120, 20, seededRandom(1515));
    expect(hangs).toEqual(all.filter((f) => f.kind === 'redis-hang'));
  });

  it('hits each ingest and each fan-out even in a short run, within the generation span', () => {
    const faults = scheduleFaults(['ingest-kill', 'fanout-kill'], 20, 4, seededRandom(7));
    expect(faults.map((f) => `${f.kind}#${f.target}`).sort()).toEqual([
      'fanout-kill#0',
      'fanout-kill#1',
      'ingest-kill#0',
      'ingest-kill#1',
    ]);
    for (const f of faults) expect(f.atMs).toBeGreaterThanOrEqual(2_000);
    for (const f of faults) expect(f.atMs).toBeLessThanOrEqual(16_000);
  });
});
