import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Enrollment, type EnrollmentToken, type Operator } from '../api.js';
import { formatTime } from '../format.js';

const EXPIRY_CHOICES: Array<[string, number]> = [
  ['1 hour', 3600],
  ['1 day', 86_400],
  ['7 days', 7 * 86_400],
  ['30 days', 30 * 86_400],
];

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Enrollment (admins): re-registrations of existing hosts waiting for approval, and the managed
 * enrollment tokens agents register with. A new token is shown once, right after it is created.
 */
export function EnrollmentView({ operator }: { operator: Operator }) {
  const [tokens, setTokens] = useState<EnrollmentToken[] | null>(null);
  const [pending, setPending] = useState<Enrollment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    Promise.all([api.enrollmentTokens(), api.pendingEnrollments()]).then(
      ([t, p]) => {
        setTokens(t.tokens);
        setPending(p.enrollments);
        setError(null);
      },
      (e: unknown) => setError(message(e)),
    );
  useEffect(() => {
    void load();
  }, []);
  const act = (work: () => Promise<unknown>) => async () => {
    try {
      await work();
      await load();
    } catch (e) {
      setError(message(e));
    }
  };
  if (operator.role !== 'admin')
    return (
      <section class="page">
        <h1>Enrollment</h1>
        <p class="muted">Managing enrollment needs the admin role.</p>
      </section>
    );
  return (
    <section class="page">
      <div class="page-head">
        <h1>Enrollment</h1>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <PendingEnrollments pending={pending} act={act} />
      <h2>Enrollment tokens</h2>
      <TokenForm onCreated={() => void load()} />
      <TokenTable tokens={tokens} act={act} />
    </section>
  );
}

type Act = (work: () => Promise<unknown>) => () => Promise<void>;

function PendingEnrollments({ pending, act }: { pending: Enrollment[] | null; act: Act }) {
  return (
    <>
      <h2>Waiting for approval</h2>
      <p class="muted">
        An agent asked to take over a host that is already enrolled, without its current agent token
        or a matching client certificate. Approve only if you reinstalled that host: the running
        agent's token is revoked and a CRITICAL alert is raised.
      </p>
      <table class="grid" data-testid="pending-enrollments">
        <thead>
          <tr>
            <th>Host</th>
            <th>From</th>
            <th>Asked</th>
            <th>Attempts</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(pending ?? []).map((e) => (
            <tr key={e.enrollment_id} data-enrollment-id={e.enrollment_id}>
              <td>{e.hostname}</td>
              <td class="mono">{e.peer}</td>
              <td>{formatTime(e.requested_at)}</td>
              <td>{e.attempts}</td>
              <td>{e.state === 'approved' ? `approved by ${e.decided_by}` : e.state}</td>
              <td class="actions">
                {e.state === 'pending' && (
                  <>
                    <button
                      type="button"
                      class="danger"
                      onClick={act(() => api.decideEnrollment(e.enrollment_id, 'approve'))}
                    >
                      Approve
                    </button>
                    <button
                      type="button"
                      class="ghost"
                      onClick={act(() => api.decideEnrollment(e.enrollment_id, 'deny'))}
                    >
                      Deny
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
          {pending?.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                Nothing waiting.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </>
  );
}

function TokenTable({ tokens, act }: { tokens: EnrollmentToken[] | null; act: Act }) {
  const [confirm, setConfirm] = useState<string | null>(null);
  return (
    <table class="grid" data-testid="enrollment-tokens">
      <thead>
        <tr>
          <th>Name</th>
          <th>Status</th>
          <th>Uses</th>
          <th>Expires</th>
          <th>Hostnames</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {(tokens ?? []).map((t) => (
          <tr key={t.token_id} data-token-name={t.name}>
            <td>{t.name}</td>
            <td data-testid="token-status">{t.status.replace('_', ' ')}</td>
            <td>
              {t.uses} / {t.max_uses}
            </td>
            <td>{formatTime(t.expires_at)}</td>
            <td class="mono">{t.hostname_pattern ?? 'any'}</td>
            <td class="actions">
              {t.status === 'active' &&
                (confirm === t.token_id ? (
                  <>
                    <button
                      type="button"
                      class="danger"
                      onClick={act(async () => {
                        await api.revokeEnrollmentToken(t.token_id);
                        setConfirm(null);
                      })}
                    >
                      Confirm revoke
                    </button>
                    <button type="button" class="ghost" onClick={() => setConfirm(null)}>
                      Keep
                    </button>
                  </>
                ) : (
                  <button type="button" class="ghost" onClick={() => setConfirm(t.token_id)}>
                    Revoke
                  </button>
                ))}
            </td>
          </tr>
        ))}
        {tokens?.length === 0 && (
          <tr>
            <td colSpan={6} class="muted">
              No enrollment tokens yet (agents can still use the bootstrap ENROLLMENT_TOKEN).
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function TokenForm({ onCreated }: { onCreated: () => void }) {
  const [form, setForm] = useState({
    name: '',
    max_uses: '1',
    expires_in_s: '604800',
    pattern: '',
  });
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setFields({});
    setError(null);
    try {
      const t = await api.createEnrollmentToken({
        name: form.name,
        max_uses: Number(form.max_uses),
        expires_in_s: Number(form.expires_in_s),
        hostname_pattern: form.pattern.trim() || null,
      });
      setCreated({ name: t.name, token: t.token });
      setForm({ ...form, name: '', pattern: '' });
      onCreated();
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(message(err));
    }
  };
  return (
    <form class="rule-form" onSubmit={submit} aria-label="New enrollment token">
      <label>
        Name
        <input name="name" value={form.name} onInput={set('name')} aria-invalid={!!fields.name} />
      </label>
      <label>
        Uses
        <input
          name="max_uses"
          type="number"
          min={1}
          value={form.max_uses}
          onInput={set('max_uses')}
          aria-invalid={!!fields.max_uses}
        />
      </label>
      <label>
        Expires in
        <select name="expires_in_s" value={form.expires_in_s} onChange={set('expires_in_s')}>
          {EXPIRY_CHOICES.map(([label, s]) => (
            <option key={s} value={String(s)}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Hostnames <span class="muted">(optional glob, e.g. web-*)</span>
        <input
          name="hostname_pattern"
          value={form.pattern}
          onInput={set('pattern')}
          aria-invalid={!!fields.hostname_pattern}
        />
      </label>
      {error && (
        <p class="error wide" role="alert">
          {error}
        </p>
      )}
      {created && (
        <p class="wide" data-testid="new-token">
          Token for “{created.name}”, shown only now: copy it and give it to the agents (
          <span class="mono">--enroll-token-file</span>). It cannot be shown again.
          <br />
          <code class="mono" data-testid="new-token-value">
            {created.token}
          </code>
        </p>
      )}
      <div class="wide form-actions">
        <button type="submit">Create token</button>
      </div>
    </form>
  );
}
