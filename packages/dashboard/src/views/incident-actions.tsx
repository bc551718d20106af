import { type IncidentJson, RESOLUTION_METHODS, type ResolutionMethod } from '@tripwire/wire';
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import type { ConsoleState } from '../console-state.js';

export type Action = 'acknowledge' | 'reopen' | 'assign' | 'note' | 'resolve' | 'false-positive';

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

/** The buttons for what can be done to the incident now, and the form of the one chosen. */
export function IncidentActions({
  incident,
  state,
}: {
  incident: IncidentJson;
  state: ConsoleState;
}) {
  const [action, setAction] = useState<Action | null>(null);
  /** The version the open form was started from: a change since then is a conflict. */
  const [baseVersion, setBaseVersion] = useState(incident.version);
  const [form, setForm] = useState<ActionForm>({
    note: '',
    assignee: '',
    resolution_method: 'MANUAL',
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

  const set = (key: keyof ActionForm) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!action) return;
    const id = incident.incident_id;
    setBusy(true);
    setFields({});
    setError(null);
    setNotice(null);
    try {
      const result = await sendIncidentAction(action, id, form, baseVersion);
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

  return (
    <IncidentActionForm
      action={action}
      form={form}
      set={set}
      fields={fields}
      error={error}
      notice={notice}
      busy={busy}
      firstField={firstField}
      onSubmit={submit}
      onCancel={cancel}
    />
  );
}

interface ActionForm {
  note: string;
  assignee: string;
  resolution_method: ResolutionMethod;
  root_cause: string;
}

/** Sends the chosen action; `expected_version` makes a concurrent change a conflict. */
function sendIncidentAction(
  action: Action,
  id: string,
  form: ActionForm,
  baseVersion: number,
): Promise<{ incident: IncidentJson }> {
  const note = form.note.trim() ? form.note : undefined;
  if (action === 'resolve' || action === 'false-positive')
    return api.resolveIncident(id, {
      state: action === 'resolve' ? 'RESOLVED' : 'FALSE_POSITIVE',
      resolution_method: form.resolution_method,
      root_cause: form.root_cause,
      ...(note !== undefined ? { note } : {}),
      expected_version: baseVersion,
    });
  return api.updateIncident(id, {
    ...(action === 'acknowledge' ? { state: 'ACKNOWLEDGED' as const } : {}),
    ...(action === 'reopen' ? { state: 'OPEN' as const } : {}),
    ...(action === 'assign' ? { assignee: form.assignee.trim() || null } : {}),
    // Add note sends the note even when empty, so the API names the field.
    ...(action === 'note' ? { note: form.note } : note !== undefined ? { note } : {}),
    expected_version: baseVersion,
  });
}

function IncidentActionForm(props: {
  action: Action;
  form: ActionForm;
  set: (key: keyof ActionForm) => (e: Event) => void;
  fields: Record<string, string>;
  error: string | null;
  notice: string | null;
  busy: boolean;
  firstField: RefObject<HTMLElement | null>;
  onSubmit: (e: Event) => void;
  onCancel: () => void;
}) {
  const { action, form, set, fields, error, notice, busy, firstField, onSubmit, onCancel } = props;
  const fieldError = (name: string) =>
    fields[name] ? (
      <span class="field-error" id={`incident-${name}-error`} data-field-error={name}>
        {fields[name]}
      </span>
    ) : null;
  const described = (name: string) => (fields[name] ? `incident-${name}-error` : undefined);

  const resolving = action === 'resolve' || action === 'false-positive';
  return (
    <form class="incident-form" onSubmit={onSubmit} aria-label={ACTION_LABEL[action]}>
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
        <button type="button" class="ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
