import {
  type IncidentJson,
  isFinalState,
  RESOLUTION_METHODS,
  type ResolutionMethod,
  type Severity,
} from '@tripwire/wire';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AlertRow } from '../alert-store.js';
import { type Alert, ApiError, api, type Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { actorName, formatTime, SEVERITIES_MOST_SEVERE_FIRST, summarize } from '../format.js';
import { FilterChips } from './filter-chips.js';
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

type Action = 'acknowledge' | 'reopen' | 'assign' | 'note' | 'resolve' | 'false-positive';

const ACTION_LABEL: Record<Action, string> = {
  acknowledge: 'Acknowledge',
  reopen: 'Reopen',
  assign: 'Assign',
  note: 'Add note',
  resolve: 'Resolve',
  'false-positive': 'Mark false positive',
};

function actionsFor(incident: IncidentJson): Action[] {
  switch (incident.state) {
    case 'OPEN':
      return ['acknowledge', 'assign', 'note', 'resolve', 'false-positive'];
    case 'ACKNOWLEDGED':
      return ['reopen', 'assign', 'note', 'resolve', 'false-positive'];
    default:
      return ['note'];
  }
}

const CONFLICT_TEXT = 'Changed by someone else — reloaded. Check it and try again.';

function IncidentActions({ incident, state }: { incident: IncidentJson; state: ConsoleState }) {
  const [action, setAction] = useState<Action | null>(null);
  /** The version the open form was started from: a change since then is a conflict. */
  const [baseVersion, setBaseVersion] = useState(incident.version);
  const [form, setForm] = useState({
    note: '',
    assignee: '',
    resolution_method: 'MANUAL' as ResolutionMethod,
    root_cause: '',
  });
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const firstField = useRef<HTMLElement>(null);

  const start = (a: Action) => {
    setAction(a);
    setBaseVersion(incident.version);
    setForm({
      note: '',
      assignee: incident.assignee ?? '',
      resolution_method: 'MANUAL',
      root_cause: '',
    });
    setFields({});
    setError(null);
    setNotice(null);
  };
  const cancel = () => {
    setAction(null);
    setFields({});
    setError(null);
    setNotice(null);
  };
  useEffect(() => {
    if (action) firstField.current?.focus();
  }, [action]);
  // A state change elsewhere can leave the open form meaningless (acknowledging a resolved one).
  useEffect(() => {
    // Our own change (its frame can come before the response) is not someone else's.
    if (action && !busy && !actionsFor(incident).includes(action)) {
      setAction(null);
      setNotice(
        `Changed by someone else: the incident is now ${incident.state}, so “${ACTION_LABEL[action]}” no longer applies.`,
      );
    }
  }, [incident.state]);

  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!action) return;
    const note = form.note.trim() ? form.note : undefined;
    const id = incident.incident_id;
    setBusy(true);
    setFields({});
    setError(null);
    setNotice(null);
    try {
      let result: { incident: IncidentJson };
      if (action === 'resolve' || action === 'false-positive')
        result = await api.resolveIncident(id, {
          state: action === 'resolve' ? 'RESOLVED' : 'FALSE_POSITIVE',
          resolution_method: form.resolution_method,
          root_cause: form.root_cause,
          ...(note !== undefined ? { note } : {}),
          expected_version: baseVersion,
        });
      else
        result = await api.updateIncident(id, {
          ...(action === 'acknowledge' ? { state: 'ACKNOWLEDGED' as const } : {}),
          ...(action === 'reopen' ? { state: 'OPEN' as const } : {}),
          ...(action === 'assign' ? { assignee: form.assignee.trim() || null } : {}),
          // Add note sends the note even when empty, so the API names the field.
          ...(action === 'note' ? { note: form.note } : note !== undefined ? { note } : {}),
          expected_version: baseVersion,
        });
      state.incidents.apply(result.incident);
      setAction(null);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'version_conflict') {
        setNotice(CONFLICT_TEXT);
        try {
          const fresh = await api.incident(id);
          state.incidents.apply(fresh.incident);
          setBaseVersion(fresh.incident.version);
        } catch (reloadErr) {
          setError(reloadErr instanceof Error ? reloadErr.message : String(reloadErr));
        }
      } else if (err instanceof ApiError) {
        setFields(err.fields);
        setError(err.message);
      } else setError(String(err));
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (name: string) =>
    fields[name] ? (
      <span class="field-error" id={`incident-${name}-error`} data-field-error={name}>
        {fields[name]}
      </span>
    ) : null;
  const described = (name: string) => (fields[name] ? `incident-${name}-error` : undefined);

  if (!action)
    return (
      <div class="incident-actions" role="group" aria-label="Incident actions">
        {notice && (
          <p class="notice" role="status" data-testid="conflict">
            {notice}
          </p>
        )}
        {actionsFor(incident).map((a) => (
          <button
            key={a}
            type="button"
            class={a === 'false-positive' ? 'ghost' : a === 'resolve' ? 'primary' : ''}
            onClick={() => start(a)}
          >
            {ACTION_LABEL[a]}
          </button>
        ))}
      </div>
    );

  const resolving = action === 'resolve' || action === 'false-positive';
  return (
    <form class="incident-form" onSubmit={submit} aria-label={ACTION_LABEL[action]}>
      <h3>{ACTION_LABEL[action]}</h3>
      {notice && (
        <p class="notice" role="status" data-testid="conflict">
          {notice}
        </p>
      )}
      {action === 'assign' && (
        <label>
          Assignee <span class="muted">(empty unassigns)</span>
          <input
            name="assignee"
            ref={firstField as preact.RefObject<HTMLInputElement>}
            value={form.assignee}
            onInput={set('assignee')}
            aria-invalid={!!fields.assignee}
            aria-describedby={described('assignee')}
          />
          {fieldError('assignee')}
        </label>
      )}
      {resolving && (
        <>
          <label>
            Resolution method
            <select
              name="resolution_method"
              ref={firstField as preact.RefObject<HTMLSelectElement>}
              value={form.resolution_method}
              onChange={set('resolution_method')}
              aria-invalid={!!fields.resolution_method}
              aria-describedby={described('resolution_method')}
            >
              {RESOLUTION_METHODS.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
            {fieldError('resolution_method')}
          </label>
          <label>
            Root cause
            <input
              name="root_cause"
              value={form.root_cause}
              onInput={set('root_cause')}
              aria-invalid={!!fields.root_cause}
              aria-describedby={described('root_cause')}
            />
            {fieldError('root_cause')}
          </label>
        </>
      )}
      {action !== 'assign' && (
        <label>
          {action === 'note' ? 'Note' : 'Note (optional)'}
          <textarea
            name="note"
            rows={3}
            ref={
              action === 'note' || action === 'acknowledge' || action === 'reopen'
                ? (firstField as preact.RefObject<HTMLTextAreaElement>)
                : undefined
            }
            value={form.note}
            onInput={set('note')}
            aria-invalid={!!fields.note}
            aria-describedby={described('note')}
          />
          {fieldError('note')}
        </label>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class={resolving ? 'primary' : ''} disabled={busy}>
          {action === 'assign' ? 'Save assignee' : ACTION_LABEL[action]}
        </button>
        <button type="button" class="ghost" onClick={cancel}>
          Cancel
        </button>
      </div>
    </form>
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
