// A real OpenID provider for the single sign-on tests: `oidc-provider` (a certified
// implementation) on localhost, with one confidential client for the fan-out, a few users with
// groups, and a one-field sign-in page of its own (the package's development pages load web
// fonts from the internet, which this machine must not reach).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { freePort } from '@tripwire/test-fixtures';
import Provider, { type Configuration } from 'oidc-provider';

export const OIDC_CLIENT_ID = 'tripwire-dashboard';
export const OIDC_CLIENT_SECRET = 'test-oidc-client-secret-0123456789';

/** The provider's users: ada is a TripWire admin by group, mallory has no group TripWire maps. */
export const OIDC_USERS: Record<string, { email: string; groups: string[] }> = {
  ada: { email: 'ada@example.com', groups: ['staff', 'tripwire-admins'] },
  vic: { email: 'vic@example.com', groups: ['tripwire-viewers'] },
  mallory: { email: 'mallory@example.com', groups: ['marketing'] },
};

export interface TestProvider {
  issuer: string;
  /** The fan-out's environment for this provider and a fan-out at `publicUrl`. */
  fanoutEnv(publicUrl: string): Record<string, string>;
  stop(): Promise<void>;
}

const page = (body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>Test provider</title></head><body>${body}</body></html>`;

/**
 * Starts the provider on `http://localhost:<port>`: another site than the fan-out on
 * 127.0.0.1, so the browser treats the redirects between them as cross-site, as in production.
 */
export async function startTestProvider(publicUrl: string): Promise<TestProvider> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const provider = new Provider(issuer, providerConfiguration(publicUrl));
  const callback = provider.callback();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (!match) return void callback(req, res);
    interaction(provider, req, res, Boolean(match[2])).catch((err: Error) => {
      res.statusCode = 500;
      res.end(page(`<p>interaction failed: ${err.message}</p>`));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    fanoutEnv: (url) => ({
      PUBLIC_URL: url,
      OIDC_ISSUER: issuer,
      OIDC_CLIENT_ID,
      OIDC_CLIENT_SECRET,
      OIDC_SCOPES: 'openid profile email groups',
      OIDC_ADMIN_VALUES: 'tripwire-admins',
      OIDC_VIEWER_VALUES: 'tripwire-viewers',
      OIDC_PROVIDER_NAME: 'Test IdP',
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function providerConfiguration(publicUrl: string): Configuration {
  return {
    clients: [
      {
        client_id: OIDC_CLIENT_ID,
        client_secret: OIDC_CLIENT_SECRET,
        redirect_uris: [`${publicUrl}/api/auth/oidc/callback`],
        post_logout_redirect_uris: [`${publicUrl}/`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email'],
      groups: ['groups'],
    },
    findAccount: (_ctx, id) => {
      const user = OIDC_USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, preferred_username: id, name: id, ...user }),
      };
    },
    // A first-party client: every scope it asks for is granted without a consent page.
    loadExistingGrant: async (ctx) => {
      const { Grant } = ctx.oidc.provider;
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return undefined;
      const grant = new Grant({ clientId, accountId });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page(
            `<h1>Sign out of the test provider?</h1>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`,
          );
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page(`<h1>Provider error</h1><pre>${JSON.stringify(out)}</pre>`);
    },
    // The test needs no refresh tokens or long sessions.
    ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 600, IdToken: 600 },
  };
}

/** The provider's sign-in page: a user name, no password (test users only). */
async function interaction(
  provider: Provider,
  req: IncomingMessage,
  res: import('node:http').ServerResponse,
  submitted: boolean,
) {
  const details = await provider.interactionDetails(req, res);
  if (!submitted) {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(
      page(`<h1>Test provider</h1>
<form method="post" action="/interaction/${details.uid}/login">
<label for="login">Username</label> <input id="login" name="login" autocomplete="off">
<button type="submit">Continue</button></form>`),
    );
    return;
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  const login = new URLSearchParams(body).get('login') ?? '';
  if (!OIDC_USERS[login]) {
    res.statusCode = 401;
    res.end(page(`<p>unknown user</p>`));
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: login } },
    { mergeWithLastSubmission: false },
  );
}
