import { type IncidentJson, isFinalState, type Severity } from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';
import type { AlertRow } from '../alert-store.js';
import { type Alert, api, type Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { actorName, formatTime, SEVERITIES_MOST_SEVERE_FIRST, summarize } from '../format.js';
import { FilterChips } from './filter-chips.js';
import { IncidentActions } from './incident-actions.js';
import { SeverityBadge } from './severity-badge.js';
import { StateBadge } from './state-badge.js';

/** The side panel of the incidents page: every field, the notes, the actions, the alerts. */
export function IncidentDetail(props: {
  id: string;
  incident: IncidentJson | undefined;
  state: ConsoleState;
  operator: Operator;
  onClose: () => void;
  onOpenAlert: (alert: AlertRow) => void;
}) {
  const { id, incident, state } = props;
  const [loadError, setLoadError] = useState<string | null>(null);
  // The list may hold an older copy, or none (another filter): read it once on opening. Later
  // changes come over the WebSocket; the store keeps whichever copy has the higher revision.
  useEffect(() => {
    api.incident(id).then(
      (r) => state.incidents.apply(r.incident),
      (e: unknown) => setLoadError(e instanceof Error ? e.message : String(e)),
    );
  }, [id]);

  if (!incident)
    return (
      <aside class="detail" aria-label="Incident detail" data-testid="incident-detail">
        <header>
          <h2 class="detail-title">Incident</h2>
          <button type="button" class="ghost" onClick={props.onClose} aria-label="Close detail">
            ✕
          </button>
        </header>
        <p class={loadError ? 'error' : 'muted'}>{loadError ?? 'Loading…'}</p>
      </aside>
    );

  const final = isFinalState(incident.state);
  return (
    <aside
      class="detail"
      aria-label="Incident detail"
      data-testid="incident-detail"
      data-revision={incident.revision}
    >
      <header>
        <SeverityBadge severity={incident.max_severity} />
        <h2 class="detail-title">
          {incident.rule_name} <span class="muted">on {incident.hostname}</span>
        </h2>
        <button type="button" class="ghost" onClick={props.onClose} aria-label="Close detail">
          ✕
        </button>
      </header>
      <dl data-testid="incident-fields">
        <dt>State</dt>
        <dd data-testid="incident-state">
          <StateBadge state={incident.state} />
        </dd>
        <dt>Alerts</dt>
        <dd data-testid="incident-alert-count">{incident.alert_count.toLocaleString('en')}</dd>
        <dt>Highest</dt>
        <dd>{incident.max_severity}</dd>
        <dt>Host</dt>
        <dd>
          {incident.hostname} <span class="mono muted">{incident.host_id}</span>
        </dd>
        <dt>Rule</dt>
        <dd>{incident.rule_name}</dd>
        <dt>Type</dt>
        <dd>{incident.tripwire_type}</dd>
        <dt>First seen</dt>
        <dd title={incident.first_seen}>{formatTime(incident.first_seen)}</dd>
        <dt>Last seen</dt>
        <dd title={incident.last_seen}>{formatTime(incident.last_seen)}</dd>
        <dt>Assignee</dt>
        <dd data-testid="incident-assignee">{incident.assignee ?? '—'}</dd>
        {final && (
          <>
            <dt>Resolution</dt>
            <dd data-testid="incident-resolution">{incident.resolution_method}</dd>
            <dt>Root cause</dt>
            <dd data-testid="incident-root-cause">{incident.root_cause}</dd>
            <dt>Closed</dt>
            <dd title={incident.resolved_at ?? ''}>{formatTime(incident.resolved_at)}</dd>
          </>
        )}
        <dt>Opened by</dt>
        <dd>
          {actorName(incident.created_by)},{' '}
          <span title={incident.created_at}>{formatTime(incident.created_at)}</span>
        </dd>
        <dt>Updated</dt>
        <dd title={incident.updated_at}>
          {formatTime(incident.updated_at)} · version {incident.version}
        </dd>
        <dt>Id</dt>
        <dd class="mono">{incident.incident_id}</dd>
      </dl>
      {props.operator.role === 'admin' ? (
        <IncidentActions incident={incident} state={state} />
      ) : (
        <p class="muted" data-testid="read-only">
          Read-only: changing incidents needs the admin role.
        </p>
      )}
      <h3>Notes</h3>
      {(incident.notes ?? []).length === 0 ? (
        <p class="muted">No notes yet.</p>
      ) : (
        <ol class="notes" data-testid="incident-notes">
          {incident.notes.map((n, i) => (
            // Notes are append-only: the position is a stable key.
            <li key={i} data-note-author={actorName(n.author)}>
              <div class="note-head">
                <span class="note-author">{actorName(n.author)}</span>
                <span class="muted" title={n.at}>
                  {formatTime(n.at)}
                </span>
              </div>
              <p class="note-text">{n.text}</p>
            </li>
          ))}
        </ol>
      )}
      <IncidentAlerts incident={incident} onOpenAlert={props.onOpenAlert} />
    </aside>
  );
}

const ALERTS_PAGE = 50;

/** The incident's own alerts, newest first, a page at a time, filterable by severity. */
function IncidentAlerts(props: { incident: IncidentJson; onOpenAlert: (alert: AlertRow) => void }) {
  const { incident } = props;
  const [severity, setSeverity] = useState<Severity[]>([]);
  const [offset, setOffset] = useState(0);
  /** The page shown, with the offset it was read at (the buttons move `offset` first). */
  const [page, setPage] = useState<{ alerts: Alert[]; total: number; offset: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    // New alerts raise the count many times a second in a storm: read once it settles a little.
    const timer = setTimeout(
      () =>
        api.incidentAlerts(incident.incident_id, severity, ALERTS_PAGE, offset).then(
          (p) => {
            if (!current) return;
            setPage({ ...p, offset });
            setError(null);
          },
          (e: unknown) => current && setError(e instanceof Error ? e.message : String(e)),
        ),
      page ? 250 : 0,
    );
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [incident.incident_id, severity.join(','), offset, incident.alert_count]);

  const total = page?.total ?? 0;
  return (
    <section class="incident-alerts" aria-label="Alerts of this incident">
      <h3>Alerts</h3>
      <div class="filter-bar" role="group" aria-label="Filter this incident's alerts">
        <FilterChips
          name="incident-alerts"
          values={SEVERITIES_MOST_SEVERE_FIRST}
          selected={severity}
          onChange={(next) => {
            setOffset(0);
            setSeverity(next);
          }}
          severity
        />
        <span class="muted" data-testid="incident-alerts-range">
          {page
            ? total === 0
              ? 'none'
              : `${page.offset + 1}–${Math.min(page.offset + page.alerts.length, total)} of ${total.toLocaleString('en')}`
            : 'Loading…'}
        </span>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="incident-alert-list" data-testid="incident-alerts">
        {(page?.alerts ?? []).map((a) => (
          <li key={a.alert_id} data-alert-id={a.alert_id} data-severity={a.severity}>
            <button
              type="button"
              class="incident-alert"
              onClick={() => props.onOpenAlert({ ...a, arrivedAt: 0 })}
            >
              <span title={a.received_at}>{formatTime(a.received_at)}</span>
              <SeverityBadge severity={a.severity} />
              <span class="detail-cell">{summarize(a.event_detail)}</span>
            </button>
          </li>
        ))}
      </ul>
      {total > ALERTS_PAGE && (
        <div class="form-actions">
          <button
            type="button"
            class="ghost"
            disabled={offset === 0}
            onClick={() => setOffset(Math.max(0, offset - ALERTS_PAGE))}
          >
            Newer
          </button>
          <button
            type="button"
            class="ghost"
            disabled={offset + ALERTS_PAGE >= total}
            onClick={() => setOffset(offset + ALERTS_PAGE)}
          >
            Older
          </button>
        </div>
      )}
    </section>
  );
}
