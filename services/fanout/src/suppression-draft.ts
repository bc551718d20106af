import type { Alert } from '@tripwire/storage';
import {
  type DetailMatcher,
  MAX_SUPPRESSION_MATCHERS,
  MAX_SUPPRESSION_VALUE_LENGTH,
} from '@tripwire/wire';

/**
 * event_detail keys that usually say what an alert is about (the file, the process, the peer),
 * in the order they are proposed. Others (hashes, pids, times) differ between alerts that are
 * "the same" and would make the suppression match only this one.
 */
const TELLING_KEYS = [
  'path',
  'file',
  'exe',
  'process',
  'cmdline',
  'name',
  'address',
  'dst',
  'port',
];
/** Proposed matchers at most: a draft, to narrow or widen by hand. */
const MAX_DRAFT_MATCHERS = Math.min(3, MAX_SUPPRESSION_MATCHERS);

/** The telling scalar fields of event_detail, at the top level or one object down. */
function tellingMatchers(detail: unknown): DetailMatcher[] {
  const out: DetailMatcher[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const key of TELLING_KEYS) {
      if (out.length >= MAX_DRAFT_MATCHERS || !Object.hasOwn(node, key)) continue;
      const value = (node as Record<string, unknown>)[key];
      if (typeof value === 'string' || typeof value === 'number') {
        const text = String(value);
        if (text.length <= MAX_SUPPRESSION_VALUE_LENGTH)
          out.push({ path: [...path, key], op: 'equals', value: text });
      } else if (path.length === 0) visit(value, [key]);
    }
  };
  visit(detail, []);
  return out;
}

/** "Mute alerts like this": a suppression body prefilled from an alert, for the operator to edit. */
export const suppressionDraft = (alert: Alert) => ({
  host_id: alert.hostId,
  rule_name: alert.ruleName,
  tripwire_type: alert.tripwireType,
  severity: null,
  detail: tellingMatchers(alert.eventDetail),
  justification: '',
  expires_at: null,
});
