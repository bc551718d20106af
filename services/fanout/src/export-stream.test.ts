import { until } from '@tripwire/test-fixtures';
import { describe, expect, it } from 'vitest';
import { exportBody } from './export-stream.js';

/** Endless batches of 100 rows that say when they were ended. */
function endless() {
  const state = { ended: false, read: 0 };
  async function* batches(): AsyncGenerator<Array<{ n: number }>, void, undefined> {
    try {
      for (;;) {
        state.read++;
        yield Array.from({ length: 100 }, (_, n) => ({ n }));
      }
    } finally {
      state.ended = true;
    }
  }
  return { state, batches: batches() };
}

describe('exportBody', () => {
  for (const gzip of [false, true]) {
    it(`ends the source and reports an incomplete export when its reader stops${gzip ? ' (gzip)' : ''}`, async () => {
      const { state, batches } = endless();
      const outcomes: Array<{ rows: number; completed: boolean }> = [];
      const body = exportBody(await batches.next(), batches, {
        format: 'ndjson',
        columns: ['n'],
        toRecord: (r) => r,
        gzip,
        onEnd: (o) => outcomes.push(o),
      });
      const reader = body[Symbol.asyncIterator]();
      expect((await reader.next()).done).toBe(false);
      await reader.return?.();
      await until(() => state.ended && outcomes.length === 1, 5_000, 'the source ended');
      expect(outcomes[0]?.completed).toBe(false);
      // Pulled, not pushed: only what the reader took (and gzip's small read-ahead) was read.
      expect(state.read).toBeLessThan(50);
    });
  }
});
