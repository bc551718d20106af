import { createLogger } from '@tripwire/logger';
import { describe, expect, it } from 'vitest';
import { createFanoutMetrics } from './fanout-metrics.js';
import { createFailureReporter, guarded } from './handler-guard.js';

describe('guarded handlers', () => {
  it('turn an exception into the answer, count every one and log one per interval', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      name: 'guard-test',
      level: 'info',
      destination: { write: (s: string) => void lines.push(JSON.parse(s)) },
    });
    const metrics = createFanoutMetrics({ connections: () => 0, topics: () => 0 });
    const report = createFailureReporter(log, metrics, 60_000);
    const answered: string[] = [];
    const handler = guarded(
      'message',
      report,
      (input: string) => {
        if (input === 'bad') throw new TypeError('boom');
        answered.push(`ok ${input}`);
      },
      (input) => answered.push(`error for ${input}`),
    );
    handler('bad');
    handler('bad');
    handler('fine');
    // An answer that throws too (a closed socket) is swallowed: nothing escapes.
    guarded(
      'close',
      report,
      () => {
        throw new Error('first');
      },
      () => {
        throw new Error('second');
      },
    )();

    expect(answered).toEqual(['error for bad', 'error for bad', 'ok fine']);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/tripwire_fanout_handler_errors_total\{handler="message"\} 2/);
    expect(text).toMatch(/tripwire_fanout_handler_errors_total\{handler="close"\} 1/);
    expect(lines.map((l) => [l.handler, l.suppressed])).toEqual([
      ['message', 0],
      ['close', 0],
    ]);
  });
});
