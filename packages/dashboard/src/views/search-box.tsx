import { SEARCH_LENGTH } from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';

/**
 * The alert search: text in a rule name or anywhere in an alert's details, applied on Enter.
 * Fewer than SEARCH_LENGTH.min characters would match nearly everything (and the server
 * refuses them), so they are not applied: the field says why instead.
 */
export function SearchBox({ value, onSearch }: { value: string; onSearch: (q: string) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const trimmed = text.trim();
  const tooShort = trimmed.length > 0 && trimmed.length < SEARCH_LENGTH.min;
  return (
    <form
      class="search-box"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (!tooShort) onSearch(trimmed);
      }}
    >
      <input
        type="search"
        name="q"
        placeholder="Search rule or details, e.g. /etc/shadow"
        aria-label="Search alerts"
        maxLength={SEARCH_LENGTH.max}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        aria-invalid={tooShort}
      />
      <button type="submit" disabled={tooShort}>
        Search
      </button>
      {tooShort && (
        <span class="hint" role="status">
          at least {SEARCH_LENGTH.min} characters
        </span>
      )}
    </form>
  );
}
