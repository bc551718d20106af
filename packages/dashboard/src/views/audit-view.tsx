import { useEffect, useState } from 'preact/hooks';
import { type AuditEntry, api, type Operator } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { formatTime } from '../format.js';
import { ExportLinks } from './export-links.js';
import { HostOptions } from './host-options.js';

type Verification = Awaited<ReturnType<typeof api.verifyAudit>>;

/** datetime-local values are local time; the API takes ISO 8601. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : null);

export function AuditView({ state, operator }: { state: ConsoleState; operator: Operator }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [hostId, setHostId] = useState('');
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);
  const [verifying, setVerifying] = useState(false);

  useEffect(() => {
    api.audit(toIso(from), toIso(to), hostId || null).then(
      (r) => {
        setEntries(r.entries.slice().reverse());
        setError(null);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, [from, to, hostId]);

  const verify = async () => {
    setVerifying(true);
    try {
      setVerification(await api.verifyAudit());
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setVerifying(false);
    }
  };

  return (
    <section class="page">
      <div class="page-head">
        <h1>Audit log</h1>
        {/* The check reads the whole chain: the server lets admins only run it, a few times a minute. */}
        {operator.role === 'admin' && (
          <button type="button" onClick={verify} disabled={verifying}>
            Verify chain
          </button>
        )}
        {verification && (
          <span
            class={verification.ok ? 'verified ok' : 'verified broken'}
            data-testid="verification"
            role="status"
          >
            {verification.ok
              ? `Chain intact: ${verification.checked} entries verified`
              : `Chain broken at entry ${verification.broken_at}: ${verification.reason}`}
          </span>
        )}
      </div>
      <div class="filter-bar">
        <label>
          From{' '}
          <input
            type="datetime-local"
            name="from"
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </label>
        <label>
          To{' '}
          <input
            type="datetime-local"
            name="to"
            value={to}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
        </label>
        <label>
          Host
          <select
            name="audit-host"
            value={hostId}
            onChange={(e) => setHostId(e.currentTarget.value)}
          >
            <option value="">All</option>
            <HostOptions hosts={state.hosts} />
          </select>
        </label>
        <ExportLinks
          request={{ kind: 'audit', from: toIso(from), to: toIso(to), hostId: hostId || null }}
        />
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid" data-testid="audit">
        <thead>
          <tr>
            <th class="num">#</th>
            <th>Time</th>
            <th>Actor</th>
            <th>Action</th>
            <th>Host</th>
            <th>Target</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {(entries ?? []).map((e) => (
            <tr key={e.seq} data-action={e.action}>
              <td class="num">{e.seq}</td>
              <td title={e.occurred_at}>{formatTime(e.occurred_at)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>{e.host_id ? (state.hosts.get(e.host_id)?.hostname ?? e.host_id) : '—'}</td>
              <td class="mono">{e.target}</td>
              <td class="mono details" title={JSON.stringify(e.details)}>
                {JSON.stringify(e.details)}
              </td>
            </tr>
          ))}
          {entries?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No entries in this range.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
