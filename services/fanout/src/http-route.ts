import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ApiError, errorAnswer } from './api-errors.js';
import { clientAddress } from './connection-caps.js';
import { type RequestOrigin, sameOriginRequest } from './cross-site.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import {
  AuthError,
  type Credential,
  findCredential,
  type Operator,
  type OperatorAuth,
  type Role,
  roleAtLeast,
} from './operator-auth.js';
import { readJsonBody } from './request-body.js';
import { type StreamState, sendStream } from './response-stream.js';

export { ApiError };

export interface ApiRequest {
  /** Who; `credential` is what they signed in with (absent on unauthenticated routes). */
  operator: Operator & { credential?: Credential };
  params: string[];
  query: URLSearchParams;
  body: unknown;
  headers: { origin: string; host: string; cookie: string; acceptEncoding: string };
  /** The client's address (the balancer's X-Forwarded-For entry with TRUST_PROXY). */
  address: string;
}

export interface ApiResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Bytes streamed as they come (a download) instead of `body` as JSON; `headers` say what they are. */
  stream?: AsyncIterable<Uint8Array>;
}

export const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  302: '302 Found',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

/** The answer of a handler that threw: the shape of every JSON error. */
export const INTERNAL_ERROR_BODY = {
  error: { code: 'internal_error', message: 'the request failed on the server; it was logged' },
};

/** Writes a whole response, corked: status, these headers in order, then the body. */
export function sendResponse(
  res: HttpResponse,
  status: number,
  headers: Record<string, string>,
  body: string | undefined,
) {
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? `${status}`);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(body);
  });
}

/** A JSON answer, never cached; 204 has no body. */
export function sendJson(
  res: HttpResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  sendResponse(
    res,
    status,
    { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    status === 204 ? undefined : JSON.stringify(body),
  );
}

export interface RouteContext {
  app: TemplatedApp;
  auth: OperatorAuth;
  /** Counts a refused request by code; `err` (the database is down) is logged, rate limited. */
  onError: (code: string, err?: unknown) => void;
  /** A handler's exception: counted per route and logged, rate limited. */
  report: ReportFailure;
  /** ALLOWED_ORIGINS: origins besides the service's own that may send cookie-authenticated writes. */
  allowedOrigins: string[];
  /** COOKIE_SECURE: the public origin is https, so an http Origin on the same host is foreign. */
  httpsOnly: boolean;
  /** TRUST_PROXY: the client's address is the rightmost X-Forwarded-For entry. */
  trustProxy: boolean;
}

/** A token in a REST URL lands in proxy and access logs: refused, with what to do instead. */
const TOKEN_IN_QUERY = new AuthError(
  'access_token in the query string is accepted only on the /ws/alerts upgrade: send "Authorization: Bearer <token>" (URLs end up in proxy and access logs)',
  401,
  'token_in_query',
);

type Method = 'get' | 'post' | 'put' | 'patch' | 'del';

export interface RouteOptions {
  authenticate?: boolean;
  /** Check the origin even without a session cookie: sign-in and sign-out (login CSRF). */
  alwaysSameOrigin?: boolean;
}

/**
 * Registers an authenticated JSON route. Everything needed from `req` is copied before the
 * first await (uWebSockets.js invalidates it), onAborted is registered, and the response is
 * written corked. A write authenticated by the session cookie must come from this origin
 * (cross-site.ts); every failure, a thrown bug included, is answered as JSON and the
 * process goes on.
 */
export function route(
  ctx: RouteContext,
  method: Method,
  pattern: string,
  role: Role | 'any',
  handler: (req: ApiRequest) => Promise<ApiResponse>,
  options: RouteOptions = {},
) {
  const name = `${method === 'del' ? 'DELETE' : method.toUpperCase()} ${pattern}`;
  const paramCount = (pattern.match(/:/g) ?? []).length;
  // Every method but GET changes state; DELETE carries no body.
  const writes = method !== 'get';
  const hasBody = writes && method !== 'del';
  const answerInternal = (res: HttpResponse) => sendJson(res, 500, INTERNAL_ERROR_BODY);
  const onRequest = (res: HttpResponse, req: HttpRequest) => {
    const state: StreamState = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
      state.wake?.();
    });
    const incoming = copyRequest(res, req, paramCount, ctx.trustProxy);
    const body = hasBody ? readJsonBody(res, state, incoming.contentType) : Promise.resolve();
    // Awaited after authentication; until then a bad body must not count as an unhandled rejection.
    body.catch(() => {});
    const succeed = guarded(
      name,
      ctx.report,
      (out: ApiResponse) => {
        if (state.aborted) {
          // Gone before the answer: a stream's end still runs (its cursor closed, connection released).
          if (out.stream) void out.stream[Symbol.asyncIterator]().return?.();
          return;
        }
        const status = out.status ?? 200;
        if (out.stream) {
          // Past the headers a failure can only cut the connection (sendStream): logged here.
          sendStream(
            res,
            state,
            STATUS_TEXT[status] ?? `${status}`,
            out.headers ?? {},
            out.stream,
          ).catch((err: unknown) => ctx.report(name, err));
        } else sendJson(res, status, out.body ?? null, out.headers);
      },
      () => answerInternal(res),
    );
    const fail = guarded(
      name,
      ctx.report,
      (err: unknown) => {
        if (state.aborted) return;
        const answer = errorAnswer(err);
        if (answer.unexpected) ctx.report(name, err);
        else ctx.onError(answer.code, answer.status === 503 ? err : undefined);
        const retryAfter = answer.body.error.retry_after_s;
        sendJson(
          res,
          answer.status,
          answer.body,
          typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {},
        );
      },
      () => answerInternal(res),
    );
    (async (): Promise<ApiResponse> => {
      if (incoming.query.has('access_token')) throw TOKEN_IN_QUERY;
      const credential = findCredential(incoming, incoming.query);
      const ambient = options.alwaysSameOrigin || credential?.source === 'cookie';
      if (writes && ambient && !sameOriginRequest(incoming, ctx.allowedOrigins, ctx.httpsOnly)) {
        throw new ApiError(
          403,
          'cross_site_request',
          'a write signed in by cookie must come from the dashboard’s own origin (Origin or Sec-Fetch-Site: same-origin)',
        );
      }
      const operator =
        options.authenticate === false
          ? { name: 'anonymous', role: 'viewer' as const }
          : await ctx.auth.verify(credential?.token ?? null, credential?.source);
      // viewer < responder < admin: a route names the least role it needs.
      if (role !== 'any' && !roleAtLeast(operator.role, role)) {
        throw new AuthError(`this action needs the ${role} role`, 403, 'forbidden_role');
      }
      const { params, query, origin, host, cookie, acceptEncoding, address } = incoming;
      return handler({
        operator,
        params,
        query,
        body: await body,
        headers: { origin, host, cookie, acceptEncoding },
        address,
      });
    })().then(succeed, fail);
  };
  ctx.app[method](pattern, guarded(name, ctx.report, onRequest, answerInternal));
}

interface IncomingRequest extends RequestOrigin {
  params: string[];
  query: URLSearchParams;
  authorization: string;
  cookie: string;
  contentType: string;
  acceptEncoding: string;
  address: string;
}

/** Everything a route reads from the request, copied while `req` is valid. */
function copyRequest(
  res: HttpResponse,
  req: HttpRequest,
  paramCount: number,
  trustProxy: boolean,
): IncomingRequest {
  return {
    address: clientAddress(res, req, trustProxy),
    params: Array.from({ length: paramCount }, (_, i) => req.getParameter(i) ?? ''),
    query: new URLSearchParams(req.getQuery() ?? ''),
    authorization: req.getHeader('authorization'),
    cookie: req.getHeader('cookie'),
    contentType: req.getHeader('content-type'),
    acceptEncoding: req.getHeader('accept-encoding'),
    origin: req.getHeader('origin'),
    host: req.getHeader('host'),
    secFetchSite: req.getHeader('sec-fetch-site'),
  };
}
