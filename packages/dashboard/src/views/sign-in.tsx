import { useEffect, useState } from 'preact/hooks';
import { ApiError, type AuthConfig, api, type Operator } from '../api.js';

/** The token goes to the server once; it answers with an HttpOnly cookie. Nothing is stored here. */
export function SignIn({ onSignedIn }: { onSignedIn: (o: Operator) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [config, setConfig] = useState<AuthConfig | null>(null);
  useEffect(() => {
    api.authConfig().then(setConfig, () => setConfig(null));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const operator = await api.signIn(token.trim());
      setToken('');
      onSignedIn(operator);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="sign-in" onSubmit={submit}>
      <h1>TripWire</h1>
      {config?.oidc && (
        <>
          {/* A full-page navigation: the provider's sign-in page, then back to the dashboard. */}
          <a class="button sso" href={config.oidc.login_url}>
            Sign in with {config.oidc.name}
          </a>
          <p class="or">or</p>
        </>
      )}
      <p>
        Paste your operator token. It is exchanged for a session cookie and not kept in this page.
      </p>
      <label for="token">Operator token</label>
      <textarea
        id="token"
        name="token"
        rows={4}
        autocomplete="off"
        spellcheck={false}
        value={token}
        onInput={(e) => setToken(e.currentTarget.value)}
      />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy || !token.trim()}>
        Sign in
      </button>
    </form>
  );
}
