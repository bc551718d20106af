import type { Severity } from '@tripwire/wire';
import { SEVERITIES_MOST_SEVERE_FIRST } from '../format.js';

/**
 * One checkbox chip per value, for the filter bars: `selected` is the chosen
 * values (none: any). Severity chips carry their colour.
 */
export function FilterChips<T extends string>({
  name,
  values,
  selected,
  onChange,
  label = (v) => v,
  severity = false,
}: {
  /** Each input is named `${name}-${value}`. */
  name: string;
  values: readonly T[];
  selected: readonly T[];
  onChange: (selected: T[]) => void;
  label?: (value: T) => string;
  severity?: boolean;
}) {
  return (
    <>
      {values.map((v) => (
        <label key={v} class={severity ? `chip sev-chip-${v.toLowerCase()}` : 'chip'}>
          <input
            type="checkbox"
            name={`${name}-${v}`}
            checked={selected.includes(v)}
            onChange={() =>
              onChange(selected.includes(v) ? selected.filter((x) => x !== v) : [...selected, v])
            }
          />
          {label(v)}
        </label>
      ))}
    </>
  );
}

/** The severity part of the alerts and incidents filter bars. */
export function SeverityFieldset(props: {
  selected: readonly Severity[];
  onChange: (severity: Severity[]) => void;
}) {
  return (
    <fieldset>
      <legend>Severity</legend>
      <FilterChips
        name="severity"
        values={SEVERITIES_MOST_SEVERE_FIRST}
        selected={props.selected}
        onChange={props.onChange}
        severity
      />
    </fieldset>
  );
}
