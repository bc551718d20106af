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
