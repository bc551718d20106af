import { describe, expect, it } from 'vitest';
import { actionAvailability } from './task-availability.js';
import type { TaskPolicyJson } from './task-types.js';

const policy = (over: Partial<TaskPolicyJson> = {}): TaskPolicyJson => ({
  host_id: 'h1',
  enabled_actions: ['kill_process', 'file_hash', 'shell_execute'],
  shell_restricted: true,
  shell_allow_patterns: ['ls -la /[a-z/]*'],
  kill_switch: false,
  max_timeout_seconds: 3600,
  default_timeout_seconds: 60,
  max_output_bytes: 1 << 20,
  max_fetch_bytes: 10 << 20,
  max_concurrent_tasks: 2,
  reported_at: '2026-12-05T10:00:00Z',
  connected: true,
  ...over,
});

describe('actionAvailability', () => {
  it('refuses viewers every action and responders the shell', () => {
    expect(actionAvailability('file_hash', 'viewer', policy())).toEqual({
      enabled: false,
      reason: 'viewers cannot run response actions',
    });
    expect(actionAvailability('shell_execute', 'responder', policy())).toMatchObject({
      enabled: false,
      reason: 'shell commands need the admin role',
    });
    expect(actionAvailability('kill_process', 'responder', policy()).enabled).toBe(true);
  });

  it('follows the policy the agent reported', () => {
    expect(actionAvailability('quarantine_file', 'admin', policy())).toEqual({
      enabled: false,
      reason: 'the agent’s configuration does not enable quarantine_file',
    });
    expect(actionAvailability('file_hash', 'admin', policy({ kill_switch: true }))).toMatchObject({
      enabled: false,
      reason: expect.stringContaining('kill switch'),
    });
    expect(actionAvailability('file_hash', 'admin', null).enabled).toBe(false);
    expect(actionAvailability('shell_execute', 'admin', policy())).toMatchObject({
      enabled: true,
      note: expect.stringContaining('1 patterns'),
    });
  });
});
