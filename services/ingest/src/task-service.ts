import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '@tripwire/logger';
import type { TaskServiceServer } from '@tripwire/proto';
import type { Pool } from '@tripwire/storage';
import { authenticateAgent, CallError } from './agent-auth.js';
import { type HandlerGuard, isProgrammingError } from './handler-guard.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { TaskManager } from './task-manager.js';
import type { TaskCall } from './task-session.js';

export interface TaskServiceDeps {
  pool: Pool;
  manager: TaskManager;
  metrics: IngestMetrics;
  guard: HandlerGuard;
  log: Logger;
  isDraining: () => boolean;
}

/**
 * tripwire.v1.TaskService: an agent's task channel, authenticated by its agent token exactly
 * like StreamAlerts; the task manager takes it from there.
 */
export function createTaskService(
  deps: TaskServiceDeps,
): TaskServiceServer & UntypedServiceImplementation {
  const method = 'StreamTasks';
  return {
    streamTasks(call: TaskCall) {
      (async () => {
        if (deps.isDraining())
          throw new CallError(
            status.UNAVAILABLE,
            'this ingest instance is shutting down; connect to another',
            'draining',
          );
        const host = await authenticateAgent(deps.pool, call.metadata);
        if (call.cancelled) return;
        await deps.manager.open(host, call);
      })().catch((err) => {
        const callError =
          err instanceof CallError
            ? err
            : isProgrammingError(err)
              ? deps.guard.caught(method, err)
              : new CallError(
                  status.UNAVAILABLE,
                  'the database is unavailable; retry with backoff',
                  'database_unavailable',
                );
        if (!(err instanceof CallError)) deps.log.warn({ err }, 'could not open a task stream');
        deps.metrics.callsRefused.inc({ method, reason: callError.reason });
        call.emit('error', { code: callError.code, details: callError.message });
      });
    },
  };
}
