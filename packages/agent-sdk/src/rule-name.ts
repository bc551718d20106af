import { MAX_RULE_NAME_LENGTH } from '@tripwire/wire';
import { repairString } from './detail-clip.js';

/** Control characters (CR, LF, ESC, …): a rule name is one line of text in logs and dashboards. */
const CONTROL = /\p{Cc}/gu;

/**
 * A rule name the server stores as it is: control characters, NUL and unpaired surrogates
 * become U+FFFD, and it is cut to the server's length limit. Unchanged when already fine.
 */
export function storableRuleName(name: string): string {
  let out = repairString(name).replace(CONTROL, '\uFFFD');
  if (out.length > MAX_RULE_NAME_LENGTH) {
    // Cut by code units (as the server counts) without splitting a surrogate pair.
    let cut = '';
    for (const ch of out) {
      if (cut.length + ch.length > MAX_RULE_NAME_LENGTH) break;
      cut += ch;
    }
    out = cut;
  }
  return out;
}
