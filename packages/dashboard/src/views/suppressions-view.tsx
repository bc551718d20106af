import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';
import { api, type Operator, type SuppressionInput, type SuppressionJson } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { useFormSubmission } from '../form-submission.js';
import { formatTime } from '../format.js';
import { linesToMatchers, matchersToLines } from '../suppression-lines.js';
import { fromAlertInSearch, navigate } from '../url-state.js';
import { HostOptions } from './host-options.js';

/** The form's subject: a new one (maybe prefilled from an alert) or an existing one. */
type Editing = { id: string | null; input: SuppressionInput } | null;

const EMPTY: SuppressionInput = {
  ...{ host_id: null, rule_name: null, tripwire_type: null, severity: null },
  ...{ detail: [], justification: '', expires_at: null },
};

/** Suppressions (docs/suppressions.md): listed for everyone, changed by responders and admins. */
export function SuppressionsView(props: {
  state: ConsoleState;
  operator: Operator;
  search: string;
}) {
  const [list, setList] = useState<SuppressionJson[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing>(null);
  const mayMute = props.operator.role !== 'viewer';
  const fail = (e: unknown) => setError(e instanceof Error ? e.message : String(e));
  const load = () =>
    api.suppressions().then((r) => {
      setList(r.suppressions);
      setError(null);
    }, fail);
  useEffect(() => {
    void load();
  }, []);
  // "Mute alerts like this": the draft of the alert in ?from_alert=, to edit before saving.
  const fromAlert = fromAlertInSearch(props.search);
  useEffect(() => {
    if (fromAlert && mayMute)
      api.suppressionDraft(fromAlert).then((input) => setEditing({ id: null, input }), fail);
  }, [fromAlert]);
  const expire = (id: string) => api.expireSuppression(id).then(load, fail);
  const hostLabel = (id: string | null) =>
    id ? (props.state.hosts.get(id)?.hostname ?? id) : 'all hosts';

  return (
    <section class="page">
      <div class="page-head">
        <h1>Suppressions</h1>
        {mayMute ? (
          <button
            type="button"
            onClick={() => setEditing({ id: null, input: EMPTY })}
            disabled={!!editing}
          >
            New suppression
          </button>
        ) : (
          <span class="muted">Read-only: muting alerts needs the responder or admin role.</span>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editing && (
        <SuppressionForm
          editing={editing}
          state={props.state}
          onDone={async () => {
            setEditing(null);
            if (fromAlert) navigate('/suppressions');
            await load();
          }}
        />
      )}
      <table class="grid" data-testid="suppressions">
        <thead>
          <tr>
            <th>Scope</th>
            <th>Rule</th>
            <th>Matches</th>
            <th>Justification</th>
            <th>Hits</th>
            <th>Expires</th>
            <th>By</th>
            {mayMute && <th />}
          </tr>
        </thead>
        <tbody>
          {(list ?? []).map((s) => (
            <tr
              key={s.suppression_id}
              data-suppression-id={s.suppression_id}
              class={s.active ? '' : 'muted'}
            >
              <td>{hostLabel(s.host_id)}</td>
              <td>
                {[s.rule_name ?? 'any rule', s.tripwire_type, s.severity]
                  .filter(Boolean)
                  .join(' · ')}
              </td>
              <td class="mono">{matchersToLines(s.detail) || '—'}</td>
              <td>{s.justification}</td>
              <td
                data-testid="hits"
                title={s.last_hit_at ? `last ${formatTime(s.last_hit_at)}` : ''}
              >
                {s.hit_count}
              </td>
              <td>{s.active ? (s.expires_at ? formatTime(s.expires_at) : 'never') : 'expired'}</td>
              <td>{s.created_by}</td>
              {mayMute && (
                <td class="actions">
                  {s.active && (
                    <>
                      <button
                        type="button"
                        class="ghost"
                        onClick={() => setEditing({ id: s.suppression_id, input: s })}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        class="danger"
                        onClick={() => void expire(s.suppression_id)}
                      >
                        Expire now
                      </button>
                    </>
                  )}
                </td>
              )}
            </tr>
          ))}
          {list?.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                Nothing is muted.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** datetime-local shows local time without a zone; the API takes ISO 8601 with one. */
const toLocalInput = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function SuppressionForm(props: {
  editing: NonNullable<Editing>;
  state: ConsoleState;
  onDone: () => void;
}) {
  const { id, input } = props.editing;
  const [form, setForm] = useState({
    host_id: input.host_id ?? '',
    rule_name: input.rule_name ?? '',
    tripwire_type: input.tripwire_type ?? '',
    severity: input.severity ?? '',
    detail: matchersToLines(input.detail),
    justification: input.justification,
    expires_at: toLocalInput(input.expires_at),
  });
  const { fields, setFields, error, busy, send } = useFormSubmission();
  const bind = (key: keyof typeof form) => ({
    name: key,
    value: form[key],
    'aria-invalid': !!fields[key],
    onInput: (e: Event) => setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value }),
  });
  const problem = (key: string) =>
    fields[key] ? (
      <span class="field-error" data-field-error={key}>
        {fields[key]}
      </span>
    ) : null;

  const submit = async (e: Event) => {
    e.preventDefault();
    const parsed = linesToMatchers(form.detail);
    if ('problem' in parsed) {
      setFields({ detail: `line ${parsed.line}: ${parsed.problem}` });
      return;
    }
    const body: SuppressionInput = {
      host_id: form.host_id || null,
      rule_name: form.rule_name || null,
      tripwire_type: (form.tripwire_type || null) as SuppressionInput['tripwire_type'],
      severity: (form.severity || null) as SuppressionInput['severity'],
      detail: parsed.matchers,
      justification: form.justification,
      expires_at: form.expires_at ? new Date(form.expires_at).toISOString() : null,
    };
    const saved = await send(async () => {
      if (id) await api.updateSuppression(id, body);
      else await api.createSuppression(body);
    });
    if (saved) props.onDone();
  };

  return (
    <form
      class="rule-form"
      onSubmit={submit}
      aria-label={id ? 'Edit suppression' : 'New suppression'}
    >
      <h2>{id ? 'Edit suppression' : 'New suppression'}</h2>
      <label>
        Host
        <select {...bind('host_id')} onChange={bind('host_id').onInput}>
          <option value="">All hosts</option>
          <HostOptions hosts={props.state.hosts} />
        </select>
        {problem('host_id')}
      </label>
      <label>
        Rule name <span class="muted">(empty: any)</span>
        <input {...bind('rule_name')} />
        {problem('rule_name')}
      </label>
      <label>
        Type
        <select {...bind('tripwire_type')} onChange={bind('tripwire_type').onInput}>
          <option value="">Any</option>
          {TRIPWIRE_TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </label>
      <label>
        Severity
        <select {...bind('severity')} onChange={bind('severity').onInput}>
          <option value="">Any</option>
          {SEVERITIES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <label class="wide">
        Event detail <span class="muted">(one per line: path equals|prefix|contains value)</span>
        <textarea rows={3} {...bind('detail')} />
        {problem('detail')}
      </label>
      <label class="wide">
        Justification <span class="muted">(required: why these alerts may be muted)</span>
        <textarea rows={2} {...bind('justification')} />
        {problem('justification')}
      </label>
      {error && (
        <p class="error wide" role="alert">
          {error}
        </p>
      )}
      <label>
        Expires <span class="muted">(empty: until expired by hand)</span>
        <input type="datetime-local" {...bind('expires_at')} />
        {problem('expires_at')}
      </label>
      <div class="wide form-actions">
        <button type="submit" disabled={busy}>
          {id ? 'Save suppression' : 'Mute'}
        </button>
        <button type="button" class="ghost" onClick={props.onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
