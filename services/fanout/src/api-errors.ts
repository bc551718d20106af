import { postgresTimeout } from '@tripwire/storage';
import { AuthError } from './operator-auth.js';

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

/** What a failed request is answered; `unexpected` failures are bugs, logged and counted. */
export interface ErrorAnswer {
  status: number;
  code: string;
  body: { error: Record<string, unknown> };
  unexpected: boolean;
}

// SQLSTATE classes that mean "the database cannot serve now, retry": connection exception,
// insufficient resources, operator intervention (shutdown, statement timeout), and the
// transaction rollbacks a retry fixes (serialization failure, deadlock).
const UNAVAILABLE_SQLSTATE = /^(08|53|57)|^40001$|^40P01$/;
// Socket-level failures reaching PostgreSQL.
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
// node-postgres's own messages: pool checkout timeout, a connection dropped mid-query, a closed pool.
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|Cannot use a pool after calling end/i;

/**
 * True for the failures that mean PostgreSQL is out of reach (answered 503, retry later);
 * any other error from a query (bad SQL, a constraint) is a bug on this side.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code)))
    return true;
  if (err instanceof AggregateError) return err.errors.some(isDatabaseUnavailable);
  return UNAVAILABLE_MESSAGE.test(err.message);
}

/** A REST answer held up by a hung database tells the client to come back after this. */
const DATABASE_TIMEOUT_RETRY_AFTER_S = 5;

/**
 * The answer for a failed request: its own status for auth and API errors, 503
 * `database_timeout` for a database that did not answer in time (statement or pool checkout
 * timeout, with Retry-After), 503 `unavailable` for an unreachable one, else 500.
 */
export function errorAnswer(err: unknown): ErrorAnswer {
  if (err instanceof AuthError) {
    return answer(err.status, err.reason, { message: err.message });
  }
  if (err instanceof ApiError) {
    return answer(err.status, err.code, { message: err.message, fields: err.fields, ...err.extra });
  }
  if (postgresTimeout(err)) {
    return answer(503, 'database_timeout', {
      message: 'the database did not answer in time; retry shortly',
      retry_after_s: DATABASE_TIMEOUT_RETRY_AFTER_S,
    });
  }
  if (isDatabaseUnavailable(err)) {
    return answer(503, 'unavailable', { message: 'the database is unavailable; retry' });
  }
  return {
    ...answer(500, 'internal_error', {
      message: 'the request failed on the server; it was logged',
    }),
    unexpected: true,
  };
}

function answer(status: number, code: string, rest: Record<string, unknown>): ErrorAnswer {
  return { status, code, body: { error: { code, ...rest } }, unexpected: false };
}
