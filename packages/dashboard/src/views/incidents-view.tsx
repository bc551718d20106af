import { INCIDENT_STATES, type IncidentJson } from '@tripwire/wire';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AlertRow } from '../alert-store.js';
import type { IncidentQuery, Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { formatTime } from '../format.js';
import { navigate, searchFromIncidentFilter } from '../url-state.js';
import { AlertDetail } from './alert-detail.js';
import { ExportLinks } from './export-links.js';
import { FilterChips, SeverityFieldset } from './filter-chips.js';
import { HostFilter } from './host-options.js';
import { IncidentDetail } from './incident-detail.js';
import { SeverityBadge } from './severity-badge.js';
import { STATE_TEXT, StateBadge } from './state-badge.js';

export function IncidentsView(props: {
  state: ConsoleState;
  filter: IncidentQuery;
  operator: Operator;
}) {
  const { state, filter, operator } = props;
  const store = state.incidents;
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [openAlert, setOpenAlert] = useState<AlertRow | null>(null);
  const selected = selectedId ? store.get(selectedId) : undefined;
  useEffect(() => setOpenAlert(null), [selectedId]);

  const close = () => {
    const id = selectedId;
    setSelectedId(null);
    setOpenAlert(null);
    // Back to where the keyboard was: the row's button.
    if (id)
      document.querySelector<HTMLButtonElement>(`tr[data-incident-id="${id}"] button`)?.focus();
  };
  // Esc closes the alert shown from the incident, then the panel (not while typing in a form).
  // One listener reading the latest render: an effect re-registered per render could lag a key.
  const latest = useRef({ selectedId, openAlert, close });
  latest.current = { selectedId, openAlert, close };
  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      const now = latest.current;
      if (e.key !== 'Escape' || !now.selectedId) return;
      if ((e.target as HTMLElement | null)?.closest?.('form')) return;
      e.preventDefault();
      if (now.openAlert) setOpenAlert(null);
      else now.close();
    };
    document.addEventListener('keydown', onKeyDown);
    return () => document.removeEventListener('keydown', onKeyDown);
  }, []);

  return (
    <div class={`incidents-view${selectedId ? ' with-detail' : ''}`} data-testid="incidents-view">
      <IncidentFilterBar state={state} filter={filter} />
      <div class="table-toolbar">
        <span class="count" data-testid="incident-count">
          {store.rows.length.toLocaleString()} {store.rows.length === 1 ? 'incident' : 'incidents'}
          {store.hasMore ? ` of ${store.total.toLocaleString()}` : ''}
        </span>
        <span class="hint">
          highest severity first, then most recent · Enter opens · Esc closes
        </span>
      </div>
      <IncidentTable state={state} selectedId={selectedId} onOpen={setSelectedId} />
      {selectedId &&
        (openAlert ? (
          <div class="detail-stack">
            <button type="button" class="ghost back" onClick={() => setOpenAlert(null)}>
              ← Back to the incident
            </button>
            <AlertDetail
              alert={openAlert}
              state={state}
              incidentId={selectedId}
              onClose={() => setOpenAlert(null)}
            />
          </div>
        ) : (
          <IncidentDetail
            key={selectedId}
            id={selectedId}
            incident={selected}
            state={state}
            operator={operator}
            onClose={close}
            onOpenAlert={setOpenAlert}
          />
        ))}
    </div>
  );
}

function IncidentFilterBar({ state, filter }: { state: ConsoleState; filter: IncidentQuery }) {
  const apply = (next: IncidentQuery) => navigate(`/incidents${searchFromIncidentFilter(next)}`);
  const isDefault =
    filter.severity.length === 0 &&
    !filter.host &&
    searchFromIncidentFilter({ ...filter, severity: [], host: null }) === '';
  return (
    <div class="filter-bar" role="group" aria-label="Filter incidents">
      <fieldset>
        <legend>State</legend>
        <FilterChips
          name="state"
          values={INCIDENT_STATES}
          selected={filter.state}
          onChange={(state) => apply({ ...filter, state })}
          label={(s) => STATE_TEXT[s]}
        />
      </fieldset>
      <SeverityFieldset
        selected={filter.severity}
        onChange={(severity) => apply({ ...filter, severity })}
      />
      <HostFilter
        value={filter.host}
        hosts={state.hosts}
        onChange={(host) => apply({ ...filter, host })}
      />
      {!isDefault && (
        <button type="button" class="ghost" onClick={() => navigate('/incidents')}>
          Open incidents, all hosts
        </button>
      )}
      <ExportLinks request={{ kind: 'incidents', filter }} />
    </div>
  );
}

function IncidentTable(props: {
  state: ConsoleState;
  selectedId: string | null;
  onOpen: (id: string) => void;
}) {
  const { state, selectedId } = props;
  const store = state.incidents;
  const rows = store.rows;
  let footer: preact.ComponentChildren = null;
  if (state.incidentsError)
    footer = (
      <>
        Could not load incidents: {state.incidentsError}{' '}
        <button type="button" class="link" onClick={() => void state.loadIncidents()}>
          Retry
        </button>
      </>
    );
  else if (!store.loaded) footer = 'Loading incidents…';
  else if (store.hasMore)
    footer = (
      <button
        type="button"
        class="link"
        disabled={state.loadingIncidents}
        onClick={() => void state.loadIncidents()}
      >
        Load more ({(store.total - store.fetched).toLocaleString()} not shown)
      </button>
    );
  else if (rows.length === 0) footer = 'No incidents match this filter.';

  return (
    <div class="incident-table">
      <table class="grid" data-testid="incidents" aria-label="Incidents">
        <thead>
          <tr>
            <th>Severity</th>
            <th>Host</th>
            <th>Rule</th>
            <th>Type</th>
            <th>State</th>
            <th class="num">Alerts</th>
            <th>First seen</th>
            <th>Last seen</th>
            <th>Assignee</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((i: IncidentJson) => (
            <tr
              key={i.incident_id}
              data-incident-id={i.incident_id}
              data-severity={i.max_severity}
              data-state={i.state}
              class={i.incident_id === selectedId ? 'selected' : ''}
              aria-selected={i.incident_id === selectedId}
              onClick={() => props.onOpen(i.incident_id)}
            >
              <td>
                <SeverityBadge severity={i.max_severity} />
              </td>
              <td>{i.hostname || i.host_id.slice(0, 8)}</td>
              <td>
                {/* The rule opens the detail: a real button, reachable with Tab and Enter. */}
                <button
                  type="button"
                  class="link"
                  aria-label={`Incident ${i.rule_name} on ${i.hostname}`}
                  onClick={(e) => {
                    e.stopPropagation();
                    props.onOpen(i.incident_id);
                  }}
                >
                  {i.rule_name}
                </button>
              </td>
              <td>{i.tripwire_type}</td>
              <td>
                <StateBadge state={i.state} />
              </td>
              <td class="num" data-testid="alert-count">
                {i.alert_count.toLocaleString('en')}
              </td>
              <td title={i.first_seen}>{formatTime(i.first_seen)}</td>
              <td title={i.last_seen}>{formatTime(i.last_seen)}</td>
              <td>{i.assignee ?? <span class="muted">—</span>}</td>
            </tr>
          ))}
          {footer && (
            <tr class="footer">
              <td colSpan={9} class="muted" data-testid="incidents-footer">
                {footer}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
