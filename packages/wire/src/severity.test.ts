import { describe, expect, it } from 'vitest';
import { compareSeverity, SEVERITIES, type Severity, severityRank } from './severity.js';

describe('severity order', () => {
  it('ranks INFO below WARN below CRITICAL', () => {
    expect(SEVERITIES.map(severityRank)).toEqual([0, 1, 2]);
  });

  it('sorts least severe first, or most severe first with the arguments swapped', () => {
    const mixed: Severity[] = ['WARN', 'CRITICAL', 'INFO', 'CRITICAL'];
    expect([...mixed].sort(compareSeverity)).toEqual(['INFO', 'WARN', 'CRITICAL', 'CRITICAL']);
    expect([...mixed].sort((a, b) => compareSeverity(b, a))).toEqual([
      'CRITICAL',
      'CRITICAL',
      'WARN',
      'INFO',
    ]);
  });
});
