import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { randomUUID } from 'node:crypto';
import { quoteForEcho } from '@tripwire/wire';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import { subscriptionsFromQuery } from './client-protocol.js';
import type { FanoutConfig } from './config.js';
import { type ConnectionCaps, clientAddress } from './connection-caps.js';
import { originAllowed } from './cross-site.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import { INTERNAL_ERROR_BODY, sendJson } from './http-route.js';
import {
  AuthError,
  findCredential,
  type OperatorAuth,
  type VerifiedOperator,
} from './operator-auth.js';
import type { SocketState } from './socket-state.js';
import { FilterError, type SubscriptionFilter } from './subscription-filter.js';

export interface UpgradeParts {
  config: FanoutConfig;
  auth: OperatorAuth;
  metrics: FanoutMetrics;
  /** True once the node is shutting down: new connections are refused with 503. */
  isDraining: () => boolean;
  /** WS_MAX_CONNECTIONS_PER_OPERATOR and _PER_ADDRESS; released when the socket closes. */
  caps: ConnectionCaps;
  /** WS_RESUMES_PER_MINUTE, keyed by operator. */
  resumeLimiter: RateLimiterMemory;
  report: ReportFailure;
}

type Refuse = (status: number, code: string, message: string) => void;

/**
 * The upgrade of /ws/alerts: refused with a JSON error (and counted) while draining, for a
 * foreign Origin, a bad filter, a bad token or too many connections; otherwise the socket
 * starts with the query string's subscriptions and `since`. An exception answers 500.
 */
export function createUpgradeHandler(parts: UpgradeParts) {
  const { config, metrics, isDraining, report } = parts;
  const upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    // uWebSockets.js invalidates req at the first await: copy everything now.
    const headers = upgradeHeaders(req);
    const query = new URLSearchParams(req.getQuery() ?? '');
    const address = clientAddress(res, req, config.TRUST_PROXY);
    const request = { aborted: false };
    res.onAborted(() => {
      request.aborted = true;
    });
    const refuse: Refuse = (status, code, message) => {
      metrics.authFailures.inc({ reason: code });
      sendJson(res, status, { error: { code, message } });
    };
    if (isDraining())
      return refuse(503, 'shutting_down', 'this node is shutting down; connect to another');
    const { origin, host } = headers;
    if (origin && !originAllowed(origin, host, config.ALLOWED_ORIGINS, config.COOKIE_SECURE)) {
      return refuse(403, 'origin_not_allowed', `origin ${quoteForEcho(origin)} is not allowed`);
    }
    let subscriptions: Map<string, SubscriptionFilter>;
    try {
      subscriptions = subscriptionsFromQuery(
        query,
        config.WS_MAX_FILTER_ENTRIES,
        config.WS_MAX_SUBSCRIPTIONS,
      );
    } catch (err) {
      if (err instanceof FilterError) return refuse(400, 'invalid_filter', err.message);
      throw err;
    }
    const since = query.get('since');
    const accept = guarded(
      'upgrade',
      report,
      (operator: VerifiedOperator, resumeRefused: boolean) => {
        if (request.aborted) return;
        const state: SocketState = {
          sessionId: randomUUID(),
          operator,
          address,
          subscriptions,
          topic: null,
          since,
          resumeRefused,
          live: false,
          replay: null,
          closed: false,
          sweepsOverLimit: 0,
        };
        admit(res, parts, state, refuse, () =>
          res.upgrade(state, headers.key, headers.protocol, headers.extensions, context),
        );
      },
      () => sendJson(res, 500, INTERNAL_ERROR_BODY),
    );
    const deny = guarded(
      'upgrade',
      report,
      (err: unknown) => {
        if (request.aborted) return;
        const e =
          err instanceof AuthError ? err : new AuthError('authentication failed', 401, 'bad_token');
        refuse(e.status, e.reason, e.message);
      },
      () => sendJson(res, 500, INTERNAL_ERROR_BODY),
    );
    // The one place a token in the query string is still taken: browsers cannot set headers on a WebSocket.
    const credential = findCredential(headers, query);
    parts.auth
      .verify(credential?.token ?? null, credential?.source)
      .then(async (operator) => {
        const refused = since ? await resumeRefused(parts.resumeLimiter, operator) : false;
        return [operator, refused] as const;
      })
      .then(([operator, refused]) => accept(operator, refused), deny);
  };
  return guarded('upgrade', report, upgrade, (res) => sendJson(res, 500, INTERNAL_ERROR_BODY));
}

/** Upgrades within the connection caps (429 beyond them); the caps count it until close. */
function admit(
  res: HttpResponse,
  { caps, config, metrics }: UpgradeParts,
  state: SocketState,
  refuse: Refuse,
  upgrade: () => void,
) {
  const limit = caps.reserve(state.operator.name, state.address);
  if (limit) {
    metrics.limitsHit.inc({ limit });
    const max =
      limit === 'connections_per_operator'
        ? `${config.WS_MAX_CONNECTIONS_PER_OPERATOR} per operator`
        : `${config.WS_MAX_CONNECTIONS_PER_ADDRESS} per address`;
    return refuse(429, 'too_many_connections', `at most ${max}: close another connection first`);
  }
  try {
    // uWebSockets.js runs the open handler inside upgrade(): from here close() releases it.
    res.cork(upgrade);
  } catch (err) {
    caps.release(state.operator.name, state.address);
    throw err;
  }
}

/** True when the operator has used up its resumes for this minute. */
function resumeRefused(limiter: RateLimiterMemory, operator: VerifiedOperator): Promise<boolean> {
  return limiter.consume(operator.name).then(
    () => false,
    () => true,
  );
}

function upgradeHeaders(req: HttpRequest) {
  return {
    authorization: req.getHeader('authorization'),
    cookie: req.getHeader('cookie'),
    origin: req.getHeader('origin'),
    host: req.getHeader('host'),
    key: req.getHeader('sec-websocket-key'),
    protocol: req.getHeader('sec-websocket-protocol'),
    extensions: req.getHeader('sec-websocket-extensions'),
  };
}
