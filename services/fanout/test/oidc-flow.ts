// Drives a single sign-on through the fan-out and the test provider with plain HTTP (no
// browser), stopping at the callback, so a test can send the callback as is, altered, twice or
// without its cookie. The fan-out's answers are checked against openapi.yaml.

import { fetchDocumented } from './openapi-contract.js';

/** A cookie jar of one site: name → value, from Set-Cookie headers. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  take(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string) {
    return this.cookies.get(name);
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export interface PendingSignIn {
  /** The fan-out's callback URL with the provider's code and state. */
  callbackUrl: string;
  /** The fan-out's login-state cookie, as `tw_oidc_login=…`. */
  loginCookie: string;
}

/** Starts a sign-in at the fan-out and signs `user` in at the provider; stops at the callback. */
export async function signInAtProvider(fanoutUrl: string, user: string): Promise<PendingSignIn> {
  const start = await fetchDocumented(`${fanoutUrl}/api/auth/oidc/login`, { redirect: 'manual' });
  if (start.status !== 302)
    throw new Error(`login answered ${start.status}: ${await start.text()}`);
  const fanoutJar = new CookieJar();
  fanoutJar.take(start);
  const providerJar = new CookieJar();
  let next = start.headers.get('location')!;
  for (let hop = 0; hop < 10; hop++) {
    if (next.startsWith(fanoutUrl)) {
      return { callbackUrl: next, loginCookie: `tw_oidc_login=${fanoutJar.get('tw_oidc_login')}` };
    }
    const url = new URL(next);
    const interaction = /^\/interaction\/[\w-]+$/.test(url.pathname);
    const res = await fetch(interaction ? `${url.href}/login` : url, {
      redirect: 'manual',
      method: interaction ? 'POST' : 'GET',
      headers: {
        cookie: providerJar.header(),
        ...(interaction ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: interaction ? new URLSearchParams({ login: user }) : undefined,
    });
    providerJar.take(res);
    const location = res.headers.get('location');
    if (!location) throw new Error(`provider answered ${res.status}: ${await res.text()}`);
    next = new URL(location, url).href;
  }
  throw new Error('too many redirects');
}

/** The callback as the browser would send it; `cookie` '' sends none. */
export function sendCallback(callbackUrl: string, cookie: string, accept = 'application/json') {
  return fetchDocumented(callbackUrl, {
    redirect: 'manual',
    headers: { accept, ...(cookie ? { cookie } : {}) },
  });
}

/** The session cookie a response sets, as `tw_session=…`, or null. */
export function sessionCookieOf(res: Response): string | null {
  const line = res.headers.getSetCookie().find((c) => c.startsWith('tw_session='));
  return line ? line.split(';')[0]! : null;
}
