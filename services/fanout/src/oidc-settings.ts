import type { z } from 'zod';
import type { FanoutConfig } from './config.js';

/** Where the provider sends the browser back; registered with the provider as the redirect URI. */
export const OIDC_CALLBACK_PATH = '/api/auth/oidc/callback';

/** Single sign-on as configured: the OIDC_* variables, checked and resolved. */
export interface OidcSettings {
  issuer: URL;
  clientId: string;
  /** Undefined: a public client, proven by PKCE alone. */
  clientSecret: string | undefined;
  redirectUrl: URL;
  /** Where the provider sends the browser after its logout: the dashboard. */
  postLogoutRedirectUrl: URL;
  scopes: string;
  roleClaim: string;
  adminValues: string[];
  responderValues: string[];
  viewerValues: string[];
  providerName: string;
  loginTtlS: number;
  httpTimeoutS: number;
  callbacksPerMinute: number;
  /**
   * Plain http to the provider, allowed only for a provider on this machine (loopback): tests
   * and a local trial. Anywhere else the tokens would cross the network in the clear.
   */
  allowHttp: boolean;
}

type OidcVariables = Pick<
  FanoutConfig,
  | 'PUBLIC_URL'
  | 'OIDC_ISSUER'
  | 'OIDC_CLIENT_ID'
  | 'OIDC_CLIENT_SECRET'
  | 'OIDC_REDIRECT_URL'
  | 'OIDC_SCOPES'
  | 'OIDC_ROLE_CLAIM'
  | 'OIDC_ADMIN_VALUES'
  | 'OIDC_RESPONDER_VALUES'
  | 'OIDC_VIEWER_VALUES'
  | 'OIDC_PROVIDER_NAME'
  | 'OIDC_LOGIN_TTL_S'
  | 'OIDC_HTTP_TIMEOUT_S'
  | 'OIDC_CALLBACKS_PER_MINUTE'
>;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a URL's traffic stays on this machine. */
export const isLoopback = (url: URL) =>
  LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);

const insecure = (url: URL) => url.protocol === 'http:' && !isLoopback(url);

/** Checks the OIDC variables together (loadConfig): each mistake named with its fix. */
export function checkOidcConfig(c: OidcVariables, ctx: z.RefinementCtx) {
  const issue = (variable: keyof OidcVariables, message: string) =>
    ctx.addIssue({ code: 'custom', path: [variable], message });
  if (!c.OIDC_ISSUER) {
    if (c.OIDC_CLIENT_ID) issue('OIDC_ISSUER', 'is required when OIDC_CLIENT_ID is set');
    return;
  }
  if (!c.OIDC_CLIENT_ID) issue('OIDC_CLIENT_ID', 'is required when OIDC_ISSUER is set');
  if (insecure(new URL(c.OIDC_ISSUER)))
    issue('OIDC_ISSUER', 'must be https (plain http only for a provider on localhost)');
  const redirect = c.OIDC_REDIRECT_URL ?? c.PUBLIC_URL;
  if (!redirect) issue('OIDC_REDIRECT_URL', `or PUBLIC_URL is required when OIDC_ISSUER is set`);
  else if (insecure(new URL(redirect)))
    issue(
      c.OIDC_REDIRECT_URL ? 'OIDC_REDIRECT_URL' : 'PUBLIC_URL',
      'must be https (plain http only on localhost): the provider sends the sign-in code to it',
    );
  if (!c.OIDC_SCOPES.split(/\s+/).includes('openid')) issue('OIDC_SCOPES', 'must include "openid"');
  if (
    c.OIDC_ADMIN_VALUES.length === 0 &&
    c.OIDC_RESPONDER_VALUES.length === 0 &&
    c.OIDC_VIEWER_VALUES.length === 0
  )
    issue(
      'OIDC_ADMIN_VALUES',
      'or OIDC_VIEWER_VALUES must list at least one value of OIDC_ROLE_CLAIM: otherwise nobody can sign in',
    );
}

/** The single sign-on settings, or null when OIDC_ISSUER is unset (sign-in by token only). */
export function oidcSettings(c: OidcVariables): OidcSettings | null {
  if (!c.OIDC_ISSUER || !c.OIDC_CLIENT_ID) return null;
  const issuer = new URL(c.OIDC_ISSUER);
  const redirectUrl = c.OIDC_REDIRECT_URL
    ? new URL(c.OIDC_REDIRECT_URL)
    : new URL(OIDC_CALLBACK_PATH, c.PUBLIC_URL);
  return {
    issuer,
    clientId: c.OIDC_CLIENT_ID,
    clientSecret: c.OIDC_CLIENT_SECRET,
    redirectUrl,
    postLogoutRedirectUrl: new URL('/', c.PUBLIC_URL ?? redirectUrl),
    scopes: c.OIDC_SCOPES,
    roleClaim: c.OIDC_ROLE_CLAIM,
    adminValues: c.OIDC_ADMIN_VALUES,
    responderValues: c.OIDC_RESPONDER_VALUES,
    viewerValues: c.OIDC_VIEWER_VALUES,
    providerName: c.OIDC_PROVIDER_NAME,
    loginTtlS: c.OIDC_LOGIN_TTL_S,
    httpTimeoutS: c.OIDC_HTTP_TIMEOUT_S,
    callbacksPerMinute: c.OIDC_CALLBACKS_PER_MINUTE,
    allowHttp: issuer.protocol === 'http:',
  };
}
