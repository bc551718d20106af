import { useEffect } from 'preact/hooks';
import type { ConsoleState } from '../console-state.js';
import { formatTime } from '../format.js';
import { navigate, searchFromFilter, searchFromTaskFilter } from '../url-state.js';

/** Online/offline comes live over the WebSocket; counts are refreshed while the page is open. */
export function HostsView({ state }: { state: ConsoleState }) {
  useEffect(() => {
    void state.refreshHosts();
    const timer = setInterval(() => void state.refreshHosts(), 30_000);
    return () => clearInterval(timer);
  }, [state]);
  const hosts = [...state.hosts.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  return (
    <section class="page">
      <h1>Hosts</h1>
      <table class="grid" data-testid="hosts">
        <thead>
          <tr>
            <th>Host</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Platform</th>
            <th>Agent</th>
            <th class="num">Alerts, 24 h</th>
            <th>Response</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map((h) => (
            <tr key={h.host_id} data-host-id={h.host_id}>
              <td>
                <a
                  href={`/?host=${h.host_id}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/${searchFromFilter({ severity: [], type: [], host: h.host_id })}`);
                  }}
                >
                  {h.hostname}
                </a>
              </td>
              <td>
                <span class={`status status-${h.status}`}>{h.status}</span>
              </td>
              <td title={h.last_seen ?? ''}>
                {h.status === 'online' ? 'now' : formatTime(h.last_seen)}
              </td>
              <td>{h.platform}</td>
              <td>{h.agent_version}</td>
              <td class="num">{h.alerts_24h?.toLocaleString() ?? '—'}</td>
              <td>
                {/* The host's tasks, and from there "Respond on <host>". */}
                <a
                  href={`/tasks?host=${h.host_id}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(
                      `/tasks${searchFromTaskFilter({ state: [], action: [], host: h.host_id })}`,
                    );
                  }}
                >
                  Tasks
                </a>
              </td>
            </tr>
          ))}
          {hosts.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No host has registered yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
