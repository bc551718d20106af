import { TRIPWIRE_TYPES } from '@tripwire/wire';
import { useEffect, useState } from 'preact/hooks';
import { api, type Operator, type Rule, type RuleInput } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { useFormSubmission } from '../form-submission.js';
import { SEVERITIES_MOST_SEVERE_FIRST } from '../format.js';
import { HostOptions } from './host-options.js';

type Editing = { rule: Rule | null } | null;

export function RulesView({ state, operator }: { state: ConsoleState; operator: Operator }) {
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const isAdmin = operator.role === 'admin';
  const load = () =>
    api.rules().then(
      (r) => {
        setRules(r.rules);
        setError(null);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  useEffect(() => {
    void load();
  }, []);
  const remove = async (rule: Rule) => {
    try {
      await api.deleteRule(rule.rule_id);
      setConfirmDelete(null);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const hostLabel = (id: string | null) =>
    id ? (state.hosts.get(id)?.hostname ?? id) : 'all hosts';

  return (
    <section class="page">
      <div class="page-head">
        <h1>Rules</h1>
        {isAdmin ? (
          <button type="button" onClick={() => setEditing({ rule: null })} disabled={!!editing}>
            New rule
          </button>
        ) : (
          <span class="muted" data-testid="read-only">
            Read-only: editing rules needs the admin role.
          </span>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editing && (
        <RuleForm
          rule={editing.rule}
          state={state}
          onDone={async () => {
            setEditing(null);
            await load();
          }}
        />
      )}
      <table class="grid" data-testid="rules">
        <thead>
          <tr>
            <th>Name</th>
            <th>Scope</th>
            <th>Type</th>
            <th>Severity</th>
            <th>Target</th>
            <th>Enabled</th>
            {isAdmin && <th />}
          </tr>
        </thead>
        <tbody>
          {(rules ?? []).map((r) => (
            <tr key={r.rule_id} data-rule-name={r.name}>
              <td>{r.name}</td>
              <td>{hostLabel(r.host_id)}</td>
              <td>{r.tripwire_type}</td>
              <td>{r.severity}</td>
              <td class="mono">{r.target}</td>
              <td>{r.enabled ? 'yes' : 'no'}</td>
              {isAdmin && (
                <td class="actions">
                  <button type="button" class="ghost" onClick={() => setEditing({ rule: r })}>
                    Edit
                  </button>
                  {confirmDelete === r.rule_id ? (
                    <>
                      <button type="button" class="danger" onClick={() => void remove(r)}>
                        Confirm delete
                      </button>
                      <button type="button" class="ghost" onClick={() => setConfirmDelete(null)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <button type="button" class="ghost" onClick={() => setConfirmDelete(r.rule_id)}>
                      Delete
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
          {rules?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No rules yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function RuleForm(props: { rule: Rule | null; state: ConsoleState; onDone: () => void }) {
  const { rule } = props;
  const [form, setForm] = useState({
    name: rule?.name ?? '',
    host_id: rule?.host_id ?? '',
    tripwire_type: rule?.tripwire_type ?? 'FILE',
    severity: rule?.severity ?? 'WARN',
    target: rule?.target ?? '',
    config: JSON.stringify(rule?.config ?? {}, null, 2),
    enabled: rule?.enabled ?? true,
  });
  const { fields, setFields, error, busy, send } = useFormSubmission();
  const set = (key: keyof typeof form) => (e: Event) => {
    const el = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [key]: el.type === 'checkbox' ? el.checked : el.value });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(form.config || '{}');
    } catch {
      setFields({ config: 'is not valid JSON' });
      return;
    }
    const input: RuleInput = {
      name: form.name,
      host_id: form.host_id || null,
      tripwire_type: form.tripwire_type as RuleInput['tripwire_type'],
      severity: form.severity as RuleInput['severity'],
      target: form.target,
      config,
      enabled: form.enabled,
    };
    const saved = await send(async () => {
      if (rule) await api.updateRule(rule.rule_id, input);
      else await api.createRule(input);
    });
    if (saved) props.onDone();
  };

  const fieldError = (name: string) =>
    fields[name] ? (
      <span class="field-error" id={`${name}-error`} data-field-error={name}>
        {fields[name]}
      </span>
    ) : null;
  const described = (name: string) => (fields[name] ? `${name}-error` : undefined);
  return (
    <form
      class="rule-form"
      onSubmit={submit}
      aria-label={rule ? `Edit rule ${rule.name}` : 'New rule'}
    >
      <h2>{rule ? `Edit “${rule.name}”` : 'New rule'}</h2>
      <label>
        Name
        <input
          name="name"
          value={form.name}
          onInput={set('name')}
          aria-invalid={!!fields.name}
          aria-describedby={described('name')}
        />
        {fieldError('name')}
      </label>
      <label>
        Scope
        <select
          name="host_id"
          value={form.host_id}
          onChange={set('host_id')}
          aria-invalid={!!fields.host_id}
        >
          <option value="">All hosts</option>
          <HostOptions hosts={props.state.hosts} />
        </select>
        {fieldError('host_id')}
      </label>
      <label>
        Type
        <select name="tripwire_type" value={form.tripwire_type} onChange={set('tripwire_type')}>
          {TRIPWIRE_TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        {fieldError('tripwire_type')}
      </label>
      <label>
        Severity
        <select name="severity" value={form.severity} onChange={set('severity')}>
          {SEVERITIES_MOST_SEVERE_FIRST.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        {fieldError('severity')}
      </label>
      <label class="wide">
        Target <span class="muted">(a path, a process pattern, or a port)</span>
        <input
          name="target"
          value={form.target}
          onInput={set('target')}
          aria-invalid={!!fields.target}
          aria-describedby={described('target')}
        />
        {fieldError('target')}
      </label>
      <label class="wide">
        Config (JSON)
        <textarea
          name="config"
          rows={3}
          value={form.config}
          onInput={set('config')}
          aria-invalid={!!fields.config}
        />
        {fieldError('config')}
      </label>
      <label class="check">
        <input type="checkbox" name="enabled" checked={form.enabled} onChange={set('enabled')} />
        Enabled
      </label>
      {error && (
        <p class="error wide" role="alert">
          {error}
        </p>
      )}
      <div class="wide form-actions">
        <button type="submit" disabled={busy}>
          {rule ? 'Save rule' : 'Create rule'}
        </button>
        <button type="button" class="ghost" onClick={props.onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
