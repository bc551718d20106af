// The suppression form writes event_detail matchers one per line, "path op value", e.g.
// "file.path prefix /var/spool/cron/": the path's keys joined by dots, then equals, prefix or
// contains, then the value (the rest of the line, spaces and all).
import { DETAIL_MATCH_OPS, type DetailMatcher, type DetailMatchOp } from '@tripwire/wire';

export const matchersToLines = (matchers: readonly DetailMatcher[]): string =>
  matchers.map((m) => `${m.path.join('.')} ${m.op} ${m.value}`).join('\n');

/** The matchers of the text, or the first line that is not one (1-based) with what is wrong. */
export function linesToMatchers(
  text: string,
): { matchers: DetailMatcher[] } | { line: number; problem: string } {
  const matchers: DetailMatcher[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const m = /^(\S+)\s+(\S+)\s(.*)$/.exec(line) ?? /^(\S+)\s+(\S+)()$/.exec(line);
    if (!m) return { line: i + 1, problem: 'write "path op value", e.g. "path equals /etc/hosts"' };
    const op = m[2]!.toLowerCase();
    if (!(DETAIL_MATCH_OPS as readonly string[]).includes(op))
      return { line: i + 1, problem: `the operator must be one of ${DETAIL_MATCH_OPS.join(', ')}` };
    matchers.push({ path: m[1]!.split('.'), op: op as DetailMatchOp, value: m[3]! });
  }
  return { matchers };
}
