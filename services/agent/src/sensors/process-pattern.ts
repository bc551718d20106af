import type { AgentRule } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';

/** What a PROCESS rule matches: the command line, or with config.match 'exe' the executable. */
export interface ProcessPattern {
  on: 'cmdline' | 'exe';
  test(text: string): boolean;
  /** How the target was understood, for logs. */
  describe: string;
}

/** rule.target as a regular expression; an invalid one is warned about and used as a substring. */
export function compileProcessPattern(rule: AgentRule, log: Logger): ProcessPattern {
  const on = rule.config.match === 'exe' ? 'exe' : 'cmdline';
  try {
    const re = new RegExp(rule.target);
    return { on, test: (text) => re.test(text), describe: `/${rule.target}/` };
  } catch (err) {
    log.warn(
      { err, ruleId: rule.ruleId, target: rule.target },
      'PROCESS rule target is not a valid regular expression; matching it as a literal substring',
    );
    const literal = rule.target;
    return { on, test: (text) => text.includes(literal), describe: JSON.stringify(literal) };
  }
}
