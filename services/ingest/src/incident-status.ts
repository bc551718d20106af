import { status } from '@grpc/grpc-js';
import {
  IncidentConflictError,
  IncidentNotFoundError,
  IncidentValidationError,
  InvalidTransitionError,
} from '@tripwire/storage';
import { CallError } from './agent-auth.js';
import { BadField } from './incident-wire.js';

/** A storage or validation failure as the status a client can act on. */
export function toCallError(err: unknown): CallError {
  if (err instanceof CallError) return err;
  if (err instanceof BadField || err instanceof IncidentValidationError) {
    return new CallError(status.INVALID_ARGUMENT, err.message);
  }
  if (err instanceof IncidentNotFoundError) return new CallError(status.NOT_FOUND, err.message);
  if (err instanceof InvalidTransitionError) {
    return new CallError(status.FAILED_PRECONDITION, err.message);
  }
  if (err instanceof IncidentConflictError) return new CallError(status.ABORTED, err.message);
  // A PostgreSQL error with an SQLSTATE outside connection (08) and shutdown (57P) classes is a bug.
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57P)/.test(code)) {
    return new CallError(status.INTERNAL, 'internal error; see the ingest service logs');
  }
  return new CallError(status.UNAVAILABLE, 'the database is unavailable; retry with backoff');
}

/** Failures worth an operator's look in the logs; the rest are the caller's to fix. */
export const isServerFault = (err: CallError): boolean =>
  err.code === status.INTERNAL || err.code === status.UNAVAILABLE;
