import { describe, expect, it } from 'vitest';
import { parseTraceparent } from './trace-context.js';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('parseTraceparent (agent input)', () => {
  it('reads a version-00 traceparent', () => {
    expect(parseTraceparent(VALID)).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      sampled: true,
    });
    expect(parseTraceparent(`${VALID.slice(0, -2)}00`)?.sampled).toBe(false);
    // Reserved flag bits are not passed on.
    expect(parseTraceparent(`${VALID.slice(0, -2)}fe`)?.sampled).toBe(false);
  });

  it('ignores anything else: the span then starts a trace of its own', () => {
    for (const bad of [
      undefined,
      42,
      Buffer.from(VALID),
      '',
      VALID.toUpperCase(),
      ` ${VALID}`,
      `${VALID}-00`,
      `${VALID.slice(0, -1)}`,
      `01${VALID.slice(2)}`,
      `00-${'0'.repeat(32)}-b7ad6b7169203331-01`,
      `00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`,
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01',
      `${VALID}${'a'.repeat(8 * 1024 * 1024)}`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });
});
