import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import {
  AuthError,
  findToken,
  type Operator,
  type OperatorAuth,
  type Role,
} from './operator-auth.js';

/** A refused API request: JSON `{"error":{"code","message","fields"?}}` with this status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    /** More members of the error object, e.g. `allowed` or `current_version`. */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface ApiRequest {
  operator: Operator;
  params: string[];
  query: URLSearchParams;
  body: unknown;
  headers: { origin: string; host: string };
}

export interface ApiResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const MAX_BODY = 64 * 1024;
const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
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

function readBody(res: HttpResponse, state: { aborted: boolean }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'body_too_large', `request body over ${MAX_BODY} bytes`));
        return;
      }
      // uWebSockets.js reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast || state.aborted) return;
      const text = Buffer.concat(chunks).toString();
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ApiError(400, 'invalid_json', 'request body is not valid JSON'));
      }
    });
  });
}

export interface RouteContext {
  app: TemplatedApp;
  auth: OperatorAuth;
  onError: (code: string, err?: unknown) => void;
}

/**
 * Registers an authenticated JSON route. Everything needed from `req` is
 * copied before the first await (uWebSockets.js invalidates it), onAborted is
 * registered, and the response is written corked.
 */
export function route(
  ctx: RouteContext,
  method: 'get' | 'post' | 'put' | 'patch' | 'del',
  pattern: string,
  role: Role | 'any',
  handler: (req: ApiRequest) => Promise<ApiResponse>,
  options: {
    authenticate?: boolean;
  } = {},
) {
  const paramCount = (pattern.match(/:/g) ?? []).length;
  ctx.app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    const params = Array.from({ length: paramCount }, (_, i) => req.getParameter(i) ?? '');
    const query = new URLSearchParams(req.getQuery() ?? '');
    const authorization = req.getHeader('authorization');
    const cookie = req.getHeader('cookie');
    const headers = { origin: req.getHeader('origin'), host: req.getHeader('host') };
    const hasBody = method === 'post' || method === 'put' || method === 'patch';
    const body = hasBody ? readBody(res, state) : Promise.resolve(undefined);
    // Awaited after authentication; until then a bad body must not count as an unhandled rejection.
    body.catch(() => {});
    (async (): Promise<ApiResponse> => {
      const operator =
        options.authenticate === false
          ? { name: 'anonymous', role: 'viewer' as const }
          : await ctx.auth.verify(findToken({ authorization, cookie }, query));
      if (role === 'admin' && operator.role !== 'admin') {
        throw new AuthError('this action needs the admin role', 403, 'forbidden_role');
      }
      return handler({ operator, params, query, body: await body, headers });
    })().then(
      (out) => {
        if (!state.aborted) sendJson(res, out.status ?? 200, out.body ?? null, out.headers);
      },
      (err: unknown) => {
        if (state.aborted) return;
        if (err instanceof AuthError) {
          ctx.onError(err.reason);
          sendJson(res, err.status, { error: { code: err.reason, message: err.message } });
        } else if (err instanceof ApiError) {
          ctx.onError(err.code);
          sendJson(res, err.status, {
            error: { code: err.code, message: err.message, fields: err.fields, ...err.extra },
          });
        } else {
          ctx.onError('internal', err);
          sendJson(res, 503, {
            error: { code: 'unavailable', message: 'the database is unavailable; retry' },
          });
        }
      },
    );
  });
}
