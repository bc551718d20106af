// Response actions as the console sees them: the shapes are @tripwire/wire's (task.ts), shared
// with REST, the bus and the `task` frames of /ws/alerts.
export {
  FINAL_TASK_STATES,
  isFinalTaskState,
  TASK_ACTIONS,
  TASK_STATES,
  type TaskAction,
  type TaskEventData,
  type TaskEventKind,
  type TaskJson,
  type TaskOutputJson,
  type TaskOutputStream,
  type TaskPolicyJson,
  type TaskState,
} from '@tripwire/wire';
