import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Logger } from '@tripwire/logger';
import type { Pool } from '@tripwire/storage';
import { parseCookie } from 'cookie';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { isDatabaseUnavailable } from './api-errors.js';
import { clientAddress } from './connection-caps.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { guarded } from './handler-guard.js';
import { ApiError, type RouteContext, route } from './http-route.js';
import { type OidcAnswer, sendOidcAnswer } from './oidc-answers.js';
import { createLoginStateSealer, type LoginStateSealer } from './oidc-login-state.js';
import { createRelyingParty, OidcError, type RelyingParty } from './oidc-relying-party.js';
import { operatorFromClaims } from './oidc-roles.js';
import { OIDC_CALLBACK_PATH, type OidcSettings } from './oidc-settings.js';
import type { OperatorAuth } from './operator-auth.js';
import { startSession } from './session-cookie.js';

export const OIDC_LOGIN_PATH = '/api/auth/oidc/login';
export const OIDC_LOGOUT_PATH = '/api/auth/oidc/logout';

/**
 * Kept from the sign-in for the provider's logout: the ID token as `id_token_hint` (so the
 * provider need not ask "sign out?"), or "1" when it is too large for a cookie. Strict: a
 * foreign page cannot send someone to their provider's logout through TripWire.
 */
const LOGOUT_HINT_COOKIE = 'tw_oidc_logout';
const MAX_HINT_LENGTH = 3000;

export interface OidcApiDeps {
  pool: Pool;
  cookieSecure: boolean;
  settings: OidcSettings | null;
  /** OPERATOR_JWT_SECRET: the login-state cookie's key is derived from it (every node shares it). */
  secret: string;
  trustProxy: boolean;
  /** SESSION_MAX_AGE_S: how long a sign-in lasts. */
  sessionMaxAgeS: number;
  metrics: Pick<FanoutMetrics, 'oidcSignIns'>;
  log: Logger;
}

interface Incoming {
  query: URLSearchParams;
  cookie: string;
  accept: string;
  address: string;
}

/**
 * Single sign-on with an OpenID Connect provider: GET /api/auth/config tells the dashboard
 * whether to offer "Sign in with …"; login → the provider → callback → a session, as the
 * sign-in form would give; logout also ends the provider's session when it offers that.
 */
export function registerOidcApi(ctx: RouteContext, deps: OidcApiDeps) {
  const { settings } = deps;
  route(
    ctx,
    'get',
    '/api/auth/config',
    'any',
    async () => ({
      body: { oidc: settings ? { name: settings.providerName, login_url: OIDC_LOGIN_PATH } : null },
    }),
    { authenticate: false },
  );
  if (!settings) {
    for (const path of [OIDC_LOGIN_PATH, OIDC_CALLBACK_PATH, OIDC_LOGOUT_PATH])
      route(ctx, 'get', path, 'any', notConfigured, { authenticate: false });
    return;
  }
  const flow: Flow = {
    ...deps,
    settings,
    auth: ctx.auth,
    party: createRelyingParty(settings),
    sealer: createLoginStateSealer(deps.secret, settings.loginTtlS, deps.cookieSecure),
    callbacks: new RateLimiterMemory({ points: settings.callbacksPerMinute, duration: 60 }),
  };
  const get = (pattern: string, handle: (req: Incoming) => Promise<OidcAnswer>) =>
    registerGet(ctx, deps.trustProxy, pattern, handle);
  get(OIDC_LOGIN_PATH, () => beginSignIn(flow));
  get(OIDC_CALLBACK_PATH, (req) => finishSignIn(flow, req));
  get(OIDC_LOGOUT_PATH, (req) => endProviderSession(flow, req));
}

const notConfigured = async (): Promise<never> => {
  throw new ApiError(
    404,
    'sso_not_configured',
    'single sign-on is not configured on this server (OIDC_ISSUER); sign in with an operator token',
  );
};

type Refusal = OidcAnswer & { kind: 'refusal' };

interface Flow extends OidcApiDeps {
  settings: OidcSettings;
  auth: OperatorAuth;
  party: RelyingParty;
  sealer: LoginStateSealer;
  callbacks: RateLimiterMemory;
}

async function beginSignIn(flow: Flow): Promise<OidcAnswer> {
  try {
    const { url, login } = await flow.party.begin();
    return { kind: 'redirect', location: url.href, cookies: [await flow.sealer.seal(login)] };
  } catch (err) {
    return providerFailure(flow, err);
  }
}

/** The provider sent the browser back: everything checked before anyone is signed in. */
async function finishSignIn(flow: Flow, req: Incoming): Promise<OidcAnswer> {
  const { settings, metrics } = flow;
  const refuse = (outcome: string, answer: Omit<Refusal, 'kind'>): Refusal => {
    metrics.oidcSignIns.inc({ outcome });
    return { kind: 'refusal', ...answer, cookies: [flow.sealer.clear()] };
  };
  if (
    !(await flow.callbacks.consume(req.address).then(
      () => true,
      () => false,
    ))
  )
    return refuse('rate_limited', {
      status: 429,
      code: 'rate_limited',
      title: 'Too many sign-in attempts',
      message: `More than ${settings.callbacksPerMinute} sign-ins from this address in a minute; wait a minute and try again.`,
    });
  const login = await flow.sealer.open(req.cookie);
  if (!login || req.query.get('state') !== login.state)
    return refuse('bad_state', {
      status: 400,
      code: 'bad_sign_in_state',
      title: 'This sign-in cannot be finished',
      message: login
        ? 'It does not match the sign-in this browser started (another tab may have started a newer one). Start again from the sign-in screen.'
        : 'It was not started in this browser, or it took too long. Start again from the sign-in screen.',
    });
  let result: Awaited<ReturnType<RelyingParty['finish']>>;
  try {
    result = await flow.party.finish(req.query, login);
  } catch (err) {
    return { ...providerFailure(flow, err), cookies: [flow.sealer.clear()] };
  }
  const mapped = operatorFromClaims(result.claims, settings);
  if (!mapped.ok) {
    flow.log.warn(
      { name: mapped.name, reason: mapped.reason },
      'single sign-on refused: no TripWire role',
    );
    return refuse(mapped.reason, noRoleRefusal(settings, mapped));
  }
  const { operator } = mapped;
  try {
    const session = await startSession(
      {
        pool: flow.pool,
        cookieSecure: flow.cookieSecure,
        maxAgeS: flow.sessionMaxAgeS,
        address: req.address,
        via: { via: 'oidc', issuer: settings.issuer.href },
      },
      operator,
    );
    metrics.oidcSignIns.inc({ outcome: 'signed_in' });
    flow.log.info({ operator: operator.name, role: operator.role }, 'signed in by single sign-on');
    const hint = result.idToken.length <= MAX_HINT_LENGTH ? result.idToken : '1';
    const secure = flow.cookieSecure ? '; Secure' : '';
    return {
      kind: 'redirect',
      location: '/',
      cookies: [
        ...Object.values(session.headers),
        flow.sealer.clear(),
        `${LOGOUT_HINT_COOKIE}=${hint}; HttpOnly; SameSite=Strict; Path=${OIDC_LOGOUT_PATH}${secure}`,
      ],
    };
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    return refuse('database_unavailable', {
      status: 503,
      code: 'database_unavailable',
      title: 'TripWire cannot sign you in right now',
      message: 'Its database is out of reach; try again in a moment.',
    });
  }
}

function noRoleRefusal(
  settings: OidcSettings,
  mapped: { reason: 'no_role' | 'no_name'; name: string | null },
) {
  if (mapped.reason === 'no_name')
    return {
      status: 403,
      code: 'no_operator_name',
      title: 'Your account has no usable name',
      message: `${settings.providerName} sent neither preferred_username nor email (one printable line of at most 128 characters); TripWire needs one to name you in its audit log.`,
    };
  return {
    status: 403,
    code: 'no_tripwire_role',
    title: 'Your account has no TripWire role',
    message: `${settings.providerName} signed you in as ${mapped.name}, but none of your "${settings.roleClaim}" values gives a TripWire role. Ask an administrator to add you to a TripWire group.`,
  };
}

function providerFailure(flow: Flow, err: unknown): Refusal {
  if (!(err instanceof OidcError)) throw err;
  flow.metrics.oidcSignIns.inc({ outcome: err.failure });
  flow.log.warn({ failure: err.failure, err: err.message }, 'single sign-on failed');
  const name = flow.settings.providerName;
  if (err.failure === 'provider_unreachable')
    return {
      kind: 'refusal',
      status: 502,
      code: 'provider_unreachable',
      title: `${name} cannot be reached`,
      message: 'TripWire could not reach the sign-in provider; try again in a moment.',
    };
  if (err.failure === 'provider_refused')
    return {
      kind: 'refusal',
      status: 403,
      code: 'provider_refused',
      title: `${name} did not sign you in`,
      message: `The provider answered: ${err.message.slice(0, 200)}`,
    };
  return {
    kind: 'refusal',
    status: 401,
    code: 'sign_in_not_verified',
    title: 'This sign-in could not be verified',
    message:
      'The provider’s answer did not pass TripWire’s checks. Start again from the sign-in screen.',
  };
}

/** After the dashboard's sign-out (DELETE /api/session): the provider's session, if it has one to end. */
async function endProviderSession(flow: Flow, req: Incoming): Promise<OidcAnswer> {
  const hint = readCookie(req.cookie, LOGOUT_HINT_COOKIE);
  if (!hint) return { kind: 'redirect', location: '/', cookies: [] };
  const url = await flow.party.endSessionUrl(hint === '1' ? null : hint);
  const clear = `${LOGOUT_HINT_COOKIE}=; HttpOnly; SameSite=Strict; Path=${OIDC_LOGOUT_PATH}; Max-Age=0`;
  return { kind: 'redirect', location: url?.href ?? '/', cookies: [clear] };
}

function readCookie(header: string, name: string): string | undefined {
  if (!header) return undefined;
  return parseCookie(header, { decode: (v) => v })[name];
}

/** A GET route that answers with redirects and pages; copies the request before any await. */
function registerGet(
  ctx: RouteContext,
  trustProxy: boolean,
  pattern: string,
  handle: (req: Incoming) => Promise<OidcAnswer>,
) {
  const name = `GET ${pattern}`;
  const internal: OidcAnswer = {
    kind: 'refusal',
    status: 500,
    code: 'internal_error',
    title: 'Sign-in failed on the server',
    message: 'The request failed on the server; it was logged.',
  };
  const onRequest = (res: HttpResponse, req: HttpRequest) => {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    const incoming: Incoming = {
      query: new URLSearchParams(req.getQuery() ?? ''),
      cookie: req.getHeader('cookie'),
      accept: req.getHeader('accept'),
      address: clientAddress(res, req, trustProxy),
    };
    const send = (answer: OidcAnswer) => {
      if (!state.aborted) sendOidcAnswer(res, incoming.accept, answer);
    };
    handle(incoming).then(
      guarded(name, ctx.report, send, () => send(internal)),
      guarded(
        name,
        ctx.report,
        (err: unknown) => {
          ctx.report(name, err);
          send(internal);
        },
        () => {},
      ),
    );
  };
  ctx.app.get(
    pattern,
    guarded(name, ctx.report, onRequest, (res) => sendOidcAnswer(res, '', internal)),
  );
}
