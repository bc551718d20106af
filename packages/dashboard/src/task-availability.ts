// Whether the console offers an action on a host, and if not, why: the operator's role
// (responder: every action but shell; admin: all) and the policy the host's agent reported
// (docs/response-actions.md). The server and the agent check again; this only greys out
// what would be refused anyway, with the reason next to it.
import type { TaskAction, TaskPolicyJson } from './task-types.js';

export type OperatorRole = 'viewer' | 'responder' | 'admin';

export type Availability = { enabled: true; note?: string } | { enabled: false; reason: string };

export function roleMayRun(role: OperatorRole, action: TaskAction): Availability {
  if (role === 'viewer') return { enabled: false, reason: 'viewers cannot run response actions' };
  if (action === 'shell_execute' && role !== 'admin')
    return { enabled: false, reason: 'shell commands need the admin role' };
  return { enabled: true };
}

export function actionAvailability(
  action: TaskAction,
  role: OperatorRole,
  policy: TaskPolicyJson | null,
): Availability {
  const byRole = roleMayRun(role, action);
  if (!byRole.enabled) return byRole;
  if (!policy)
    return {
      enabled: false,
      reason:
        'this host’s agent has not reported a response-action policy (none enabled, or never connected with them)',
    };
  if (policy.kill_switch)
    return {
      enabled: false,
      reason: 'response actions are switched off on this host (kill switch)',
    };
  if (!policy.enabled_actions.includes(action))
    return { enabled: false, reason: `the agent’s configuration does not enable ${action}` };
  if (action === 'shell_execute' && policy.shell_restricted)
    return {
      enabled: true,
      note: `only commands matching the host’s allow-list (${policy.shell_allow_patterns.length} patterns), run without a shell`,
    };
  return { enabled: true };
}
