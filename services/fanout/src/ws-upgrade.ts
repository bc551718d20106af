import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { randomUUID } from 'node:crypto';
import { subscriptionsFromQuery } from './client-protocol.js';
import type { FanoutConfig } from './config.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { sendJson } from './http-route.js';
import { AuthError, findToken, type OperatorAuth } from './operator-auth.js';
import type { SocketState } from './socket-state.js';
import { FilterError, type SubscriptionFilter } from './subscription-filter.js';

export interface UpgradeParts {
  config: FanoutConfig;
  auth: OperatorAuth;
  metrics: FanoutMetrics;
  /** True once the node is shutting down: new connections are refused with 503. */
  isDraining: () => boolean;
}

/**
 * The upgrade of /ws/alerts: refused with a JSON error (and counted) while
 * draining, for a foreign Origin, a bad filter or a bad token; otherwise the
 * socket starts with the query string's subscriptions and `since`.
 */
export function createUpgradeHandler({ config, auth, metrics, isDraining }: UpgradeParts) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    // uWebSockets.js invalidates req at the first await: copy everything now.
    const headers = upgradeHeaders(req);
    const query = new URLSearchParams(req.getQuery() ?? '');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const refuse = (status: number, code: string, message: string) => {
      metrics.authFailures.inc({ reason: code });
      sendJson(res, status, { error: { code, message } });
    };
    if (isDraining())
      return refuse(503, 'shutting_down', 'this node is shutting down; connect to another');
    if (headers.origin && !originAllowed(headers.origin, headers.host, config.ALLOWED_ORIGINS)) {
      return refuse(403, 'origin_not_allowed', `origin ${headers.origin} is not allowed`);
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
    auth.verify(findToken(headers, query)).then(
      (operator) => {
        if (aborted) return;
        const state: SocketState = {
          sessionId: randomUUID(),
          operator,
          subscriptions,
          topic: null,
          since,
          closed: false,
          sweepsOverLimit: 0,
        };
        res.cork(() =>
          res.upgrade(state, headers.key, headers.protocol, headers.extensions, context),
        );
      },
      (err: unknown) => {
        if (aborted) return;
        const e =
          err instanceof AuthError ? err : new AuthError('authentication failed', 401, 'bad_token');
        refuse(e.status, e.reason, e.message);
      },
    );
  };
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

/** Same origin as the Host header, or listed in ALLOWED_ORIGINS (`*`: any). */
function originAllowed(origin: string, host: string, allowed: string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
