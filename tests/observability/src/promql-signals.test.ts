import { describe, expect, it } from 'vitest';
import { familyOf, metricNames, ruleSignals } from './promql-signals.js';

describe('ruleSignals', () => {
  it('takes the left side of a top-level comparison, not one inside braces or parentheses', () => {
    expect(ruleSignals('up{job=~".*(ingest|fanout).*"} == 0')).toEqual([
      'up{job=~".*(ingest|fanout).*"}',
    ]);
    expect(
      ruleSignals('histogram_quantile(0.99, sum by (le) (rate(x_bucket{a!="b"}[5m]))) > 0.5'),
    ).toEqual(['histogram_quantile(0.99, sum by (le) (rate(x_bucket{a!="b"}[5m])))']);
    expect(ruleSignals('max(a) > 0.8 * 20000')).toEqual(['max(a)']);
  });

  it('takes each operand of and/or/unless', () => {
    expect(ruleSignals('min by (instance) (a) < 600 and on (instance) (time() - b) > 600')).toEqual(
      ['min by (instance) (a)', '(time() - b)'],
    );
  });

  it('keeps an expression that compares nothing whole', () => {
    expect(ruleSignals('sum(rate(x[1m]))')).toEqual(['sum(rate(x[1m]))']);
  });
});

describe('metricNames', () => {
  it('finds TripWire, process and Node.js metrics and up, once each', () => {
    expect(
      metricNames(
        'rate(tripwire_a_bucket[1m]) / process_cpu_seconds_total + up + tripwire_a_bucket',
      ),
    ).toEqual(['tripwire_a_bucket', 'process_cpu_seconds_total', 'up']);
    expect(familyOf('tripwire_a_seconds_bucket')).toBe('tripwire_a_seconds');
  });
});
