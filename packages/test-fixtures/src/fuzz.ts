// Property-based fuzzing with fast-check. In `pnpm test` every property runs a bounded number of
// cases from a fixed seed, so a run is fast and the same every time; `pnpm fuzz`
// (scripts/fuzz.mjs) sets FUZZ_SEED to a random seed and FUZZ_RUNS much higher, and counts the
// cases tried through FUZZ_REPORT.
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

const DEFAULT_SEED = 20261205;

/** Checks `property` over FUZZ_RUNS cases (default `runs`) from FUZZ_SEED (default fixed). */
export async function fuzz(
  name: string,
  property: fc.IAsyncPropertyWithHooks<unknown> | fc.IPropertyWithHooks<unknown>,
  runs = 50,
): Promise<void> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : DEFAULT_SEED;
  const numRuns = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : runs;
  let tried = 0;
  const counted = property.beforeEach(() => {
    tried++;
  });
  try {
    // fast-check's failure message carries the seed and the shrunk path that reproduce it.
    await fc.assert(counted as fc.IAsyncProperty<unknown>, { seed, numRuns });
  } finally {
    const report = process.env.FUZZ_REPORT;
    if (report) appendFileSync(report, `${JSON.stringify({ name, seed, tried })}\n`);
  }
}

export { fc };
