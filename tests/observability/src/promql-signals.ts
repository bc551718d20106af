// What a threshold rule compares. `increase(x[5m]) > 0` returns nothing while all is well, so
// "it returns data" cannot be asked of the rule itself: it is asked of the left operand of each
// top-level comparison (the signal), which must return series whenever the metrics exist.

const SET_OPERATORS = ['and', 'or', 'unless'];
const COMPARISONS = ['==', '!=', '>=', '<=', '>', '<'];

/** Splits `expr` at depth 0 (outside (), {}, [] and quotes) by `isSeparator`'s matches. */
function splitTopLevel(expr: string, match: (rest: string) => number): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (depth === 0) {
      const length = match(expr.slice(i));
      if (length > 0) {
        parts.push(expr.slice(start, i).trim());
        start = i + length;
        i = start - 1;
      }
    }
  }
  parts.push(expr.slice(start).trim());
  return parts;
}

const setOperator = (rest: string) => {
  const m = /^\s(and|or|unless)\s/.exec(rest);
  return m && SET_OPERATORS.includes(m[1]!) ? m[0].length - 1 : 0;
};

const comparison = (rest: string) => {
  // `bool` modifiers and `=~` / `!~` never occur at depth 0 outside a comparison.
  const op = COMPARISONS.find((o) => rest.startsWith(o));
  return op ? op.length : 0;
};

/**
 * The signals of a rule expression: for each operand of a top-level and/or/unless, the left
 * side of its comparison (the whole operand when it compares nothing).
 */
export function ruleSignals(expr: string): string[] {
  return splitTopLevel(expr, setOperator).map(
    // A set operator's own `on (...)` / `ignoring (...)` belongs to neither operand.
    (part) => splitTopLevel(part.replace(/^(on|ignoring)\s*\([^)]*\)\s*/, ''), comparison)[0]!,
  );
}

/** Metric names an expression reads (TripWire's and Node's default metrics, and `up`). */
export function metricNames(expr: string): string[] {
  const names = expr.match(/\b(?:tripwire|process|nodejs)_[a-z0-9_]+|\bup\b/g) ?? [];
  return [...new Set(names)];
}

/** The metric family a series name belongs to (a histogram's _bucket/_sum/_count series). */
export const familyOf = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
