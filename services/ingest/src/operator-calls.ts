import {
  type Metadata,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { Operator } from '@tripwire/operator-auth';
import type { CallError } from './agent-auth.js';
import { type HandlerGuard, isProgrammingError } from './handler-guard.js';
import { isServerFault } from './incident-status.js';
import { BadField } from './incident-wire.js';
import { MalformedMessage } from './malformed-message.js';

export interface OperatorCallsOptions {
  /** The operator behind the call, if their role may call `method`. */
  authorize(method: string, metadata: Metadata): Promise<Operator>;
  /** A failure as the status the client can act on. */
  toCallError(err: unknown): CallError;
  /** Counts a call's outcome by method and status code. */
  count(method: string, code: status): void;
  guard: HandlerGuard;
  log: Logger;
  /** Names the service in the log line of a server-side failure. */
  service: string;
}

/**
 * What IncidentService and ResponseService share: operator calls authenticated, counted and
 * answered with the right status (a bug is counted and logged, rate-limited, by the guard and
 * answered INTERNAL).
 */
export function operatorCalls(o: OperatorCallsOptions) {
  const refusal = (method: string, err: unknown): Partial<ServiceError> => {
    const bug = isProgrammingError(err);
    const callError = bug ? o.guard.caught(method, err) : o.toCallError(err);
    if (!bug && isServerFault(callError)) o.log.error({ err, method }, `${o.service} call failed`);
    o.count(method, callError.code);
    return { code: callError.code, details: callError.message };
  };

  /** Authenticates, runs `handle`, and answers with its result or the mapped error. */
  const unary =
    <Req, Res>(method: string, handle: (req: Req, operator: Operator) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      (async () => {
        const operator = await o.authorize(method, call.metadata);
        if (call.request instanceof MalformedMessage) throw new BadField(call.request.describe());
        return handle(call.request, operator);
      })().then(
        (response) => {
          o.count(method, status.OK);
          callback(null, response);
        },
        (err) => callback(refusal(method, err)),
      );
    };

  return { refusal, unary };
}
