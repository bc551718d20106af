import { useEffect, useState } from 'preact/hooks';
import type { AlertRow } from '../alert-store.js';
import { api, type Rule } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { formatTime, hostName } from '../format.js';
import { draftFromAlert } from '../task-prefill.js';
import { navigate, searchFromFilter, searchFromTaskFilter } from '../url-state.js';
import { RespondForm } from './respond-form.js';
import { SeverityBadge } from './severity-badge.js';

export function AlertDetail(props: {
  alert: AlertRow;
  state: ConsoleState;
  onClose: () => void;
  /** The incident it was opened from: a response to it is linked to the incident too. */
  incidentId?: string;
}) {
  const { alert, state } = props;
  const host = state.hosts.get(alert.host_id);
  const [rule, setRule] = useState<Rule | null | undefined>(undefined);
  const [responding, setResponding] = useState(false);
  useEffect(() => {
    setRule(undefined);
    setResponding(false);
    // The host's own rule of that name wins over a global one, as on the agent.
    api.rules().then(
      ({ rules }) => {
        const named = rules.filter((r) => r.name === alert.rule_name);
        setRule(
          named.find((r) => r.host_id === alert.host_id) ?? named.find((r) => !r.host_id) ?? null,
        );
      },
      () => setRule(null),
    );
  }, [alert.alert_id]);

  return (
    <aside class="detail" aria-label="Alert detail" data-testid="alert-detail">
      <header>
        <SeverityBadge severity={alert.severity} />
        <h2 class="detail-title">{alert.rule_name}</h2>
        <button type="button" class="ghost" onClick={props.onClose} aria-label="Close detail">
          ✕
        </button>
      </header>
      <dl>
        <dt>Alert</dt>
        <dd class="mono">{alert.alert_id}</dd>
        <dt>Type</dt>
        <dd>{alert.tripwire_type}</dd>
        <dt>Severity</dt>
        <dd>{alert.severity}</dd>
        <dt>Occurred</dt>
        <dd title={alert.timestamp}>{formatTime(alert.timestamp)}</dd>
        <dt>Received</dt>
        <dd title={alert.received_at}>{formatTime(alert.received_at)}</dd>
      </dl>
      <h3>Host</h3>
      <dl>
        <dt>Name</dt>
        <dd>
          <a
            href={`/?host=${alert.host_id}`}
            onClick={(e) => {
              e.preventDefault();
              navigate(`/${searchFromFilter({ severity: [], type: [], host: alert.host_id })}`);
            }}
          >
            {hostName(alert, state.hosts)}
          </a>
        </dd>
        <dt>Id</dt>
        <dd class="mono">{alert.host_id}</dd>
        {host && (
          <>
            <dt>State</dt>
            <dd>
              <span class={`status status-${host.status}`}>{host.status}</span>
            </dd>
            <dt>Platform</dt>
            <dd>
              {host.platform} · agent {host.agent_version}
            </dd>
          </>
        )}
      </dl>
      <h3>Rule</h3>
      {rule === undefined ? (
        <p class="muted">Loading…</p>
      ) : rule === null ? (
        <p class="muted">
          No rule named “{alert.rule_name}” is configured now (a local or deleted rule).
        </p>
      ) : (
        <dl>
          <dt>Scope</dt>
          <dd>{rule.host_id ? 'this host' : 'all hosts'}</dd>
          <dt>Target</dt>
          <dd class="mono">{rule.target}</dd>
          <dt>Watches</dt>
          <dd>
            {rule.tripwire_type}, {rule.severity}
            {rule.enabled ? '' : ' (disabled)'}
          </dd>
        </dl>
      )}
      {state.operator.role !== 'viewer' &&
        (responding ? (
          <RespondForm
            hostId={alert.host_id}
            hostname={hostName(alert, state.hosts)}
            operator={state.operator}
            draft={{
              ...draftFromAlert(alert),
              ...(props.incidentId ? { incident_id: props.incidentId } : {}),
            }}
            onCreated={(task) => {
              state.tasks.apply(task);
              navigate(
                `/tasks${searchFromTaskFilter({ state: [], action: [], host: null }, task.task_id)}`,
              );
            }}
            onClose={() => setResponding(false)}
          />
        ) : (
          <>
            <button type="button" class="primary" onClick={() => setResponding(true)}>
              Respond
            </button>{' '}
            <button
              type="button"
              class="ghost"
              onClick={() => navigate(`/suppressions?from_alert=${alert.alert_id}`)}
            >
              Mute alerts like this
            </button>
          </>
        ))}
      <h3>Event detail</h3>
      <pre class="json" data-testid="event-detail">
        {JSON.stringify(alert.event_detail, null, 2)}
      </pre>
    </aside>
  );
}
