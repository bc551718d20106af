import * as oidc from 'openid-client';
import type { LoginState } from './oidc-login-state.js';
import type { OidcSettings } from './oidc-settings.js';

/** Why a sign-in with the provider failed; each is a label of tripwire_fanout_oidc_sign_ins_total. */
export type OidcFailure = 'provider_unreachable' | 'provider_refused' | 'rejected';

export class OidcError extends Error {
  constructor(
    readonly failure: OidcFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * TripWire as an OpenID Connect relying party (openid-client): authorization code flow with
 * PKCE (S256), state and nonce. The provider's metadata is discovered on first use, not at
 * start, so a provider that is down delays sign-in by SSO only, never the fan-out's start;
 * a failed discovery is tried again by the next sign-in.
 */
export function createRelyingParty(settings: OidcSettings) {
  let discovered: Promise<oidc.Configuration> | null = null;
  const configuration = () => {
    discovered ??= discover(settings).catch((err) => {
      discovered = null;
      throw classify(err);
    });
    return discovered;
  };

  return {
    /** The provider's authorization URL for a new sign-in, and what the callback must match. */
    async begin(): Promise<{ url: URL; login: LoginState }> {
      const config = await configuration();
      const login = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: settings.redirectUrl.href,
        scope: settings.scopes,
        code_challenge: await oidc.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: 'S256',
        state: login.state,
        nonce: login.nonce,
      });
      return { url, login };
    },

    /**
     * The callback's code exchanged (with the PKCE verifier) and the ID token verified (issuer,
     * audience, signature, expiry, nonce); the claims of the ID token and of the userinfo
     * endpoint together, since many providers put groups only in the latter.
     */
    async finish(
      callbackQuery: URLSearchParams,
      login: LoginState,
    ): Promise<{ claims: Record<string, unknown>; idToken: string }> {
      const config = await configuration();
      const currentUrl = new URL(settings.redirectUrl);
      currentUrl.search = callbackQuery.toString();
      try {
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: login.codeVerifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        const idClaims = tokens.claims();
        if (!idClaims || !tokens.id_token) throw new OidcError('rejected', 'no ID token');
        const userinfo = config.serverMetadata().userinfo_endpoint
          ? await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub)
          : {};
        return { claims: { ...userinfo, ...idClaims }, idToken: tokens.id_token };
      } catch (err) {
        throw classify(err);
      }
    },

    /** Where to end the provider's session too (RP-initiated logout); null if it offers none. */
    async endSessionUrl(idToken: string | null): Promise<URL | null> {
      const config = await configuration().catch(() => null);
      if (!config?.serverMetadata().end_session_endpoint) return null;
      return oidc.buildEndSessionUrl(config, {
        client_id: settings.clientId,
        post_logout_redirect_uri: settings.postLogoutRedirectUrl.href,
        ...(idToken ? { id_token_hint: idToken } : {}),
      });
    },
  };
}

export type RelyingParty = ReturnType<typeof createRelyingParty>;

async function discover(settings: OidcSettings): Promise<oidc.Configuration> {
  const auth = settings.clientSecret ? oidc.ClientSecretBasic(settings.clientSecret) : oidc.None();
  const config = await oidc.discovery(
    settings.issuer,
    settings.clientId,
    settings.clientSecret,
    auth,
    {
      timeout: settings.httpTimeoutS,
      execute: settings.allowHttp ? [oidc.allowInsecureRequests] : [],
    },
  );
  config.timeout = settings.httpTimeoutS;
  return config;
}

const UNREACHABLE_CODES = new Set([
  'OAUTH_TIMEOUT',
  'OAUTH_ABORT',
  'OAUTH_RESPONSE_IS_NOT_CONFORM',
]);

/** openid-client's errors sorted by what the person signing in can do about them. */
function classify(err: unknown): OidcError {
  if (err instanceof OidcError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError || UNREACHABLE_CODES.has((err as { code?: string }).code ?? ''))
    return new OidcError('provider_unreachable', message, { cause: err });
  if (err instanceof oidc.AuthorizationResponseError)
    return new OidcError('provider_refused', `${err.error}: ${err.error_description ?? ''}`, {
      cause: err,
    });
  return new OidcError('rejected', message, { cause: err });
}
