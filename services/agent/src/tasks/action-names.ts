import type { TaskRequest } from '@tripwire/proto';

/** The response actions, by the names the config, the policy report and the docs use. */
export const ACTION_NAMES = [
  'process_list',
  'network_connections',
  'file_hash',
  'file_fetch',
  'kill_process',
  'quarantine_file',
  'restore_file',
  'shell_execute',
] as const;

export type ActionName = (typeof ACTION_NAMES)[number];

type TaskCase = Exclude<NonNullable<TaskRequest['task']>['$case'], 'taskCancel'>;

const BY_CASE: Record<TaskCase, ActionName> = {
  processList: 'process_list',
  networkConnections: 'network_connections',
  fileHash: 'file_hash',
  fileFetch: 'file_fetch',
  killProcess: 'kill_process',
  quarantineFile: 'quarantine_file',
  restoreFile: 'restore_file',
  shellExecute: 'shell_execute',
};

/** The action a request asks for; undefined for a case this agent does not know (e.g. Docker). */
export function actionOf(request: TaskRequest): ActionName | undefined {
  const c = request.task?.$case;
  return c && c !== 'taskCancel' ? BY_CASE[c] : undefined;
}
