import { Counter, Gauge, type Registry } from 'prom-client';

/** Response actions: the task channel, the task manager and ResponseService (docs/response-actions.md). */
export function taskMetrics(registers: Registry[], taskStreams: () => number) {
  return {
    taskStreams: new Gauge({
      name: 'tripwire_ingest_task_streams',
      help: 'Open StreamTasks calls on this instance (agents with response actions connected here)',
      registers,
      collect() {
        this.set(taskStreams());
      },
    }),
    tasksCreated: new Counter({
      name: 'tripwire_ingest_tasks_created_total',
      help: 'Tasks created through ResponseService, by action',
      labelNames: ['action'] as const,
      registers,
    }),
    tasksDispatched: new Counter({
      name: 'tripwire_ingest_tasks_dispatched_total',
      help: 'Tasks sent to an agent: first (a QUEUED task) or redelivered (after the agent reconnected)',
      labelNames: ['delivery'] as const,
      registers,
    }),
    tasksFinished: new Counter({
      name: 'tripwire_ingest_tasks_finished_total',
      help: 'Tasks ended, by final state, as recorded by this instance (agent outcomes and server sweeps)',
      labelNames: ['state'] as const,
      registers,
    }),
    taskOutputBytes: new Counter({
      name: 'tripwire_ingest_tasks_output_bytes_total',
      help: 'Output bytes stored, by stream (stdout, stderr, file, listing)',
      labelNames: ['stream'] as const,
      registers,
    }),
    taskResponses: new Counter({
      name: 'tripwire_ingest_tasks_responses_total',
      help: 'Agent task responses by what became of them: stored, duplicate (a repeat outcome), unknown (not a task of this host), failed (database error; the agent resends)',
      labelNames: ['result'] as const,
      registers,
    }),
    taskCancelsSent: new Counter({
      name: 'tripwire_ingest_tasks_cancels_sent_total',
      help: 'TaskCancel requests sent to agents, by cause (operator, timeout)',
      labelNames: ['cause'] as const,
      registers,
    }),
    taskRequests: new Counter({
      name: 'tripwire_ingest_task_requests_total',
      help: 'ResponseService calls by method and status code',
      labelNames: ['method', 'code'] as const,
      registers,
    }),
    taskSweepFailures: new Counter({
      name: 'tripwire_ingest_tasks_sweep_failures_total',
      help: 'Task sweeps (expiry, timeouts, disconnected agents, heartbeat) that failed (database down); retried next tick',
      registers,
    }),
  };
}
