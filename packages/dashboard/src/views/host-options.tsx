import type { Host } from '../api.js';

/** One <option> per known host, by name, for the host pickers. */
export function HostOptions({ hosts }: { hosts: Map<string, Host> }) {
  return (
    <>
      {[...hosts.values()]
        .sort((a, b) => a.hostname.localeCompare(b.hostname))
        .map((h) => (
          <option key={h.host_id} value={h.host_id}>
            {h.hostname}
          </option>
        ))}
    </>
  );
}

/** The "Host" picker of a filter bar: all hosts, or one (kept even while its name is unknown). */
export function HostFilter({
  value,
  hosts,
  onChange,
}: {
  value: string | null;
  hosts: Map<string, Host>;
  onChange: (host: string | null) => void;
}) {
  return (
    <label class="host-filter">
      Host
      <select
        name="host"
        value={value ?? ''}
        onChange={(e) => onChange(e.currentTarget.value || null)}
      >
        <option value="">All hosts</option>
        {value && !hosts.has(value) && <option value={value}>{value}</option>}
        <HostOptions hosts={hosts} />
      </select>
    </label>
  );
}
