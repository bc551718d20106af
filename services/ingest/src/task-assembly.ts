import type { OperatorAuth } from '@tripwire/operator-auth';
import type { TaskLimits } from '@tripwire/storage';
import type { IngestConfig } from './config.js';
import { createResponseService, type ResponseServiceDeps } from './response-service.js';
import { TaskManager, type TaskManagerDeps } from './task-manager.js';
import { createTaskService } from './task-service.js';
import { WatchSlots } from './watch-slots.js';

// Response actions' part of the ingest service, built from the configuration: the task
// manager, TaskService (agents) and ResponseService (operators).

/** The bounds ResponseService applies to new tasks (the TASKS_* variables). */
export const taskLimits = (config: IngestConfig): TaskLimits => ({
  defaultTimeoutS: config.TASKS_DEFAULT_TIMEOUT_S,
  maxTimeoutS: config.TASKS_MAX_TIMEOUT_S,
  defaultExpiresInS: config.TASKS_DEFAULT_EXPIRY_S,
  maxExpiresInS: config.TASKS_MAX_EXPIRY_S,
  maxOutputBytes: config.TASK_OUTPUT_MAX_BYTES,
  perOperatorPerMinute: config.TASKS_PER_OPERATOR_PER_MINUTE,
  perHostPerMinute: config.TASKS_PER_HOST_PER_MINUTE,
  maxQueuedPerHost: config.TASKS_MAX_QUEUED_PER_HOST,
});

export function createTaskManager(
  config: IngestConfig,
  deps: Omit<TaskManagerDeps, 'limits' | 'timings'>,
): TaskManager {
  return new TaskManager({
    ...deps,
    limits: {
      maxRunning: config.TASKS_MAX_RUNNING_PER_HOST,
      fetchMaxBytes: config.TASK_FETCH_MAX_BYTES,
      maxBufferedBytes: config.AGENT_STREAM_MAX_BUFFERED_BYTES,
      policyWaitMs: config.TASKS_POLICY_WAIT_MS,
      smallResponsesPerS: config.TASK_STREAM_SMALL_RESPONSES_PER_S,
      maxChunksPerTask: config.TASK_MAX_CHUNKS_PER_TASK,
    },
    timings: {
      sweepMs: config.TASKS_SWEEP_MS,
      heartbeatMs: config.HOST_HEARTBEAT_MS,
      leaseMs: config.HOST_LEASE_MS,
      timeoutGraceS: config.TASKS_TIMEOUT_GRACE_S,
      disconnectGraceS: config.TASKS_DISCONNECT_GRACE_S,
      retentionDays: config.TASK_RETENTION_DAYS,
    },
  });
}

/** TaskService and ResponseService, for createGrpcServer. */
export function createTaskServices(
  d: Omit<
    ResponseServiceDeps,
    'limits' | 'shellApproval' | 'watchPollMs' | 'watchSlots' | 'operatorAuth'
  > & {
    config: IngestConfig;
    operatorAuth: OperatorAuth | undefined;
  },
) {
  const { config, ...deps } = d;
  return {
    tasks: createTaskService(deps),
    responses: createResponseService({
      ...deps,
      limits: taskLimits(config),
      shellApproval: config.TASKS_SHELL_APPROVAL,
      watchPollMs: config.TASK_WATCH_POLL_MS,
      watchSlots: new WatchSlots({
        perOperator: config.TASK_WATCHES_PER_OPERATOR,
        total: config.TASK_WATCHES_MAX,
      }),
    }),
  };
}
