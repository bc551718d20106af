import type { NewAlert } from '@tripwire/storage';
import { type DetailMatcher, detailValueAt, type SuppressionCriteria } from '@tripwire/wire';

/** A matcher with its path's lookup key, so an alert looks each distinct path up once. */
interface KeyedMatcher extends DetailMatcher {
  key: string;
}
interface Compiled {
  s: SuppressionCriteria;
  matchers: KeyedMatcher[];
}

/** An alert's event detail, parsed on first need, each path looked up once. */
export class AlertValues {
  private doc: unknown;
  private parsed = false;
  private readonly byPath = new Map<string, string | undefined>();

  constructor(private readonly json: string | null) {}

  at(key: string, path: readonly string[]): string | undefined {
    if (this.byPath.has(key)) return this.byPath.get(key);
    if (!this.parsed) {
      this.parsed = true;
      try {
        // Validated JSON text (event-detail.ts); anything unreadable matches no path.
        this.doc = this.json === null ? null : JSON.parse(this.json);
      } catch {
        this.doc = null;
      }
    }
    const v = detailValueAt(this.doc, path);
    this.byPath.set(key, v);
    return v;
  }
}

function matches(c: Compiled, alert: NewAlert, values: AlertValues, now: number): boolean {
  const { s } = c;
  if (s.expiresAtMs !== null && s.expiresAtMs <= now) return false;
  if (s.tripwireType !== null && s.tripwireType !== alert.tripwireType) return false;
  if (s.severity !== null && s.severity !== alert.severity) return false;
  for (const m of c.matchers) {
    const v = values.at(m.key, m.path);
    if (v === undefined) return false;
    if (m.op === 'equals' && v !== m.value) return false;
    if (m.op === 'prefix' && !v.startsWith(m.value)) return false;
    if (m.op === 'contains' && !v.includes(m.value)) return false;
  }
  return true;
}

/** Suppressions whose first matcher is `op` on one path, by that matcher's value. */
interface ValueIndex {
  path: readonly string[];
  byValue: Map<string, Compiled[]>;
  /** prefix only: the distinct value lengths, so an alert tries one slice per length. */
  lengths: number[];
}

const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

/**
 * The suppressions of one rule and host (either may be "any"), indexed by their first
 * event_detail matcher: an `equals` one by its value (one hash lookup per alert and path), a
 * `prefix` one by its value too (one lookup per distinct prefix length), so a thousand
 * suppressions on the same path cost an alert a few lookups, not a thousand comparisons. The
 * rest (no matcher, or `contains` first) are tried one by one.
 */
export class SuppressionBucket {
  private readonly scan: Compiled[] = [];
  private readonly equals = new Map<string, ValueIndex>();
  private readonly prefixes = new Map<string, ValueIndex>();

  add(s: SuppressionCriteria): void {
    const c = { s, matchers: s.detail.map((m) => ({ ...m, key: JSON.stringify(m.path) })) };
    const first = c.matchers[0];
    if (!first || first.op === 'contains') {
      this.scan.push(c);
      return;
    }
    const indexes = first.op === 'equals' ? this.equals : this.prefixes;
    let index = indexes.get(first.key);
    if (!index) {
      index = { path: first.path, byValue: new Map(), lengths: [] };
      indexes.set(first.key, index);
    }
    push(index.byValue, first.value, c);
    if (first.op === 'prefix' && !index.lengths.includes(first.value.length))
      index.lengths.push(first.value.length);
  }

  /** The id of a suppression here that mutes the alert, if any. */
  match(alert: NewAlert, values: AlertValues, now: number): string | undefined {
    const hit = (list: readonly Compiled[] | undefined) =>
      list?.find((c) => matches(c, alert, values, now))?.s.suppressionId;
    for (const [key, index] of this.equals) {
      const v = values.at(key, index.path);
      const id = v === undefined ? undefined : hit(index.byValue.get(v));
      if (id !== undefined) return id;
    }
    for (const [key, index] of this.prefixes) {
      const v = values.at(key, index.path);
      if (v === undefined) continue;
      for (const length of index.lengths) {
        const id = length > v.length ? undefined : hit(index.byValue.get(v.slice(0, length)));
        if (id !== undefined) return id;
      }
    }
    return hit(this.scan);
  }
}
