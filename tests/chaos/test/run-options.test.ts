import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, parseRunOptions, UsageError } from '../src/run-options.js';

describe('pnpm chaos options', () => {
  it('takes the full configuration by default and the seed it is given', () => {
    expect(parseRunOptions(['--seed', '42'])).toEqual({
      seed: 42,
      alerts: 100_000,
      agents: 20,
      clients: 12,
      durationS: 120,
      faults: [...FAULT_KINDS],
      injectDrop: 0,
      busy: 0,
    });
    expect(parseRunOptions(['--busy', '6'])?.busy).toBe(6);
  });

  it('picks faults by name, and none', () => {
    expect(parseRunOptions(['--faults', 'pg-cut,agent-kill'])?.faults).toEqual([
      'pg-cut',
      'agent-kill',
    ]);
    expect(parseRunOptions(['--faults=none'])?.faults).toEqual([]);
  });

  it('answers --help with null (the usage is printed, exit 0)', () => {
    expect(parseRunOptions(['--help'])).toBeNull();
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--alerts', 'many'], /--alerts: "many" is not a whole number/],
    [['--clients', '13'], /--clients: must be 1-12/],
    [['--busy', '33'], /--busy: must be 0-32/],
    [['--faults', 'meteor'], /unknown fault "meteor"/],
    [['stray'], /positional/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseRunOptions(argv)).toThrow(UsageError);
    expect(() => parseRunOptions(argv)).toThrow(message);
  });
});
