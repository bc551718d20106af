import type { Severity } from './severity.js';
import type { TripwireType } from './tripwire-type.js';

// Suppressions (mute rules): what an operator may send, and how an alert is matched. Shared by
// ingest (which applies them), the REST API (which validates them) and the dashboard (which
// prefills one from an alert), so all three agree on the limits and on what "matches" means.

export const DETAIL_MATCH_OPS = ['equals', 'prefix', 'contains'] as const;
export type DetailMatchOp = (typeof DETAIL_MATCH_OPS)[number];

/** Deepest JSON path into event_detail a matcher may name. */
export const MAX_SUPPRESSION_PATH_DEPTH = 8;
/** Longest single key of such a path. */
export const MAX_SUPPRESSION_PATH_SEGMENT_LENGTH = 128;
/** Longest value a matcher compares against. */
export const MAX_SUPPRESSION_VALUE_LENGTH = 1024;
/** Most event_detail matchers in one suppression (all must hold). */
export const MAX_SUPPRESSION_MATCHERS = 8;
/** A suppression's justification (free text). */
export const MAX_SUPPRESSION_JUSTIFICATION_LENGTH = 2000;
/** Most suppressions in force at once (not expired): every alert is checked against them. */
export const MAX_ACTIVE_SUPPRESSIONS = 2000;

/** One condition on event_detail: the scalar at `path`, as text, equals / starts with / contains `value`. */
export interface DetailMatcher {
  /** Object keys (or array indexes, as decimal text) from the root of event_detail. */
  path: string[];
  op: DetailMatchOp;
  value: string;
}

/** A suppression as the REST API shows it. Null criteria match anything. */
export interface SuppressionJson {
  suppression_id: string;
  host_id: string | null;
  rule_name: string | null;
  tripwire_type: TripwireType | null;
  severity: Severity | null;
  detail: DetailMatcher[];
  justification: string;
  /** ISO 8601; null: until expired by hand. */
  expires_at: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  hit_count: number;
  last_hit_at: string | null;
  /** Derived: not expired at the time of the answer. */
  active: boolean;
}

/** The criteria ingest matches (SuppressionJson's, with times as epoch milliseconds). */
export interface SuppressionCriteria {
  suppressionId: string;
  hostId: string | null;
  ruleName: string | null;
  tripwireType: TripwireType | null;
  severity: Severity | null;
  detail: readonly DetailMatcher[];
  /** null: never expires. */
  expiresAtMs: number | null;
}

/** The scalar at `path` in `doc` as text; undefined for a missing key, an object or an array. */
export function detailValueAt(doc: unknown, path: readonly string[]): string | undefined {
  let node = doc;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (typeof node === 'string') return node;
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  return undefined;
}
