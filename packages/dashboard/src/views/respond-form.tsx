import { useEffect, useState } from 'preact/hooks';
import { api, type Operator } from '../api.js';
import { useFormSubmission } from '../form-submission.js';
import { actionAvailability } from '../task-availability.js';
import { ACTION_FIELDS, parametersFor, type TaskDraft } from '../task-prefill.js';
import {
  TASK_ACTIONS,
  type TaskAction,
  type TaskJson,
  type TaskPolicyJson,
} from '../task-types.js';

const FIELD_LABEL: Record<string, string> = {
  path: 'Path',
  max_bytes: 'Max bytes (optional)',
  pid: 'PID',
  start_ticks: 'Start ticks',
  signal: 'Signal',
  quarantine_id: 'Quarantine id',
  cmd: 'Command',
  working_dir: 'Working folder (optional)',
};

/**
 * "Respond": runs an action on a host. Every action is listed; those the operator's role or the
 * host's reported policy refuses are disabled with the reason beside them.
 */
export function RespondForm(props: {
  hostId: string;
  hostname: string;
  operator: Operator;
  draft?: TaskDraft;
  onCreated: (task: TaskJson) => void;
  onClose: () => void;
}) {
  const { hostId, operator, draft } = props;
  const [policy, setPolicy] = useState<TaskPolicyJson | null | undefined>(undefined);
  const [action, setAction] = useState<TaskAction>(draft?.action ?? 'process_list');
  const [form, setForm] = useState<Record<string, string>>(draft?.parameters ?? {});
  const [timeout, setTimeoutS] = useState('');
  const { fields, error, busy, send } = useFormSubmission();
  useEffect(() => {
    api.taskPolicy(hostId).then(
      (r) => setPolicy(r.policy),
      () => setPolicy(null),
    );
  }, [hostId]);

  const chosen = actionAvailability(action, operator.role, policy ?? null);
  const submit = async (e: Event) => {
    e.preventDefault();
    await send(async () => {
      const { task } = await api.createTask(hostId, {
        action,
        parameters: parametersFor(action, form),
        ...(timeout.trim() ? { timeout_seconds: Number(timeout) } : {}),
        ...(draft?.alert_id ? { alert_id: draft.alert_id } : {}),
        ...(draft?.incident_id ? { incident_id: draft.incident_id } : {}),
      });
      props.onCreated(task);
    });
  };

  return (
    <form class="respond-form" aria-label={`Respond on ${props.hostname}`} onSubmit={submit}>
      <h3>Respond on {props.hostname}</h3>
      {policy === undefined && <p class="muted">Reading the host’s policy…</p>}
      <fieldset class="respond-actions">
        <legend>Action</legend>
        {TASK_ACTIONS.map((a) => {
          const availability = actionAvailability(a, operator.role, policy ?? null);
          return (
            <label key={a} class={availability.enabled ? '' : 'refused'} data-action={a}>
              <input
                type="radio"
                name="action"
                value={a}
                checked={action === a}
                disabled={!availability.enabled}
                onChange={() => setAction(a)}
              />
              <span class="mono">{a}</span>
              {!availability.enabled && (
                <span class="muted reason" data-testid={`refused-${a}`}>
                  {' '}
                  — {availability.reason}
                </span>
              )}
            </label>
          );
        })}
      </fieldset>
      {chosen.enabled && chosen.note && <p class="notice">{chosen.note}</p>}
      {ACTION_FIELDS[action].map((name) => (
        <ParameterField
          key={name}
          name={name}
          value={form[name] ?? ''}
          error={fields[`parameters.${name}`]}
          onChange={(value) => setForm({ ...form, [name]: value })}
        />
      ))}
      <label>
        Timeout, seconds (optional)
        <input
          name="timeout_seconds"
          inputMode="numeric"
          value={timeout}
          onInput={(e) => setTimeoutS(e.currentTarget.value)}
        />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy || !chosen.enabled}>
          Run {action}
        </button>
        <button type="button" class="ghost" onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ParameterField(props: {
  name: string;
  value: string;
  error: string | undefined;
  onChange: (value: string) => void;
}) {
  const { name, value, error } = props;
  const problem = error ? <span class="field-error">{error}</span> : null;
  if (name === 'signal')
    return (
      <label>
        {FIELD_LABEL[name]}
        <select
          name="signal"
          value={value || 'SIGKILL'}
          onChange={(e) => props.onChange(e.currentTarget.value)}
        >
          <option>SIGKILL</option>
          <option>SIGTERM</option>
        </select>
        {problem}
      </label>
    );
  return (
    <label>
      {FIELD_LABEL[name] ?? name}
      <input
        name={name}
        class={name === 'cmd' || name === 'path' ? 'mono' : ''}
        value={value}
        onInput={(e) => props.onChange(e.currentTarget.value)}
        aria-invalid={!!error}
      />
      {problem}
    </label>
  );
}
