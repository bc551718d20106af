// Issue 13: whatever a sensor (or an SDK user) puts in a detail, the JSON the agent sends fits the
// budget, parses, holds only strings PostgreSQL can store, and says what it cut.
import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { describe, it } from 'vitest';
import { clipDetail } from '../src/detail-clip.js';

const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({
    unit: fc.constantFrom('\u0000', '\uD800', '\uDC00', '"', '\\', '\n', 'é', '😀', 'x'),
    maxLength: 500,
  }),
  fc
    .tuple(fc.constantFrom('A', '\u0001', '😀', '\uDFFF'), fc.integer({ min: 0, max: 30_000 }))
    .map(([c, n]) => c.repeat(n)),
);
const detail = fc.dictionary(
  fc.string({ maxLength: 12 }),
  fc.oneof(
    hostileString,
    fc.integer(),
    fc.array(hostileString, { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 4 }), hostileString, { maxKeys: 4 }),
  ),
  { maxKeys: 12 },
);

const storable = (value: unknown): boolean => {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string' && (!v.isWellFormed() || v.includes('\u0000'))) return false;
    if (v && typeof v === 'object') stack.push(...Object.keys(v), ...Object.values(v));
  }
  return true;
};

describe('clipDetail (fast-check)', () => {
  it('fits the budget, parses, is storable, and marks every cut', () =>
    fuzz(
      'agent-sdk: clipDetail',
      fc.property(detail, fc.integer({ min: 1024, max: 70_000 }), (d, max) => {
        const out = clipDetail(d, max);
        const parsed = JSON.parse(out.json) as Record<string, unknown>;
        const fits = Buffer.byteLength(out.json) <= max;
        const cutWhenTooBig =
          Buffer.byteLength(JSON.stringify(d)) <= max ||
          parsed.truncated !== undefined ||
          out.repaired > 0;
        return fits && storable(parsed) && cutWhenTooBig;
      }),
      80,
    ));
});
