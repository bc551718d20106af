import type { AgentRule } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import RE2 from 're2';

/** What a PROCESS rule matches: the command line, or with config.match 'exe' the executable. */
export interface ProcessPattern {
  on: 'cmdline' | 'exe';
  test(text: string): boolean;
  /** How the target was understood, for logs. */
  describe: string;
}

/**
 * rule.target as a regular expression on RE2, whose matching time is linear in the text: no
 * pattern makes a hostile command line stall the agent (JavaScript's engine backtracks, and
 * `(^|/)nc( |$).*(-e|…)` took seconds on 128 KiB of `/nc /nc …`). A target that is not a
 * regular expression at all is matched as a literal substring (linear too). A valid JavaScript
 * expression RE2 cannot run (backreferences, lookaround) is refused: null, with a warning.
 */
export function compileProcessPattern(rule: AgentRule, log: Logger): ProcessPattern | null {
  const on = rule.config.match === 'exe' ? 'exe' : 'cmdline';
  try {
    new RegExp(rule.target);
  } catch (err) {
    log.warn(
      { err, ruleId: rule.ruleId, target: rule.target },
      'PROCESS rule target is not a valid regular expression; matching it as a literal substring',
    );
    const literal = rule.target;
    return { on, test: (text) => text.includes(literal), describe: JSON.stringify(literal) };
  }
  try {
    const re = new RE2(rule.target);
    return { on, test: (text) => re.test(text), describe: `/${rule.target}/` };
  } catch (err) {
    log.warn(
      { err: (err as Error).message, ruleId: rule.ruleId, rule: rule.name, target: rule.target },
      'PROCESS rule refused: RE2 cannot run this pattern (backreferences and lookaround need a backtracking engine, which a hostile command line can stall); rewrite it without them',
    );
    return null;
  }
}
