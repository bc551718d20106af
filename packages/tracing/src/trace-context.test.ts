import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { traceparentContext } from './trace-context.js';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('traceparentContext (agent input)', () => {
  it('turns a version-00 traceparent into a remote parent', () => {
    expect(trace.getSpanContext(traceparentContext(VALID))).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    // Reserved flag bits are not passed on.
    expect(trace.getSpanContext(traceparentContext(`${VALID.slice(0, -2)}ff`))?.traceFlags).toBe(1);
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
      `01${VALID.slice(2)}`,
      `00-${'0'.repeat(32)}-b7ad6b7169203331-01`,
      `00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`,
      `00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01`,
      `${VALID}${'a'.repeat(8 * 1024 * 1024)}`,
    ]) {
      expect(traceparentContext(bad)).toBe(ROOT_CONTEXT);
    }
  });
});
