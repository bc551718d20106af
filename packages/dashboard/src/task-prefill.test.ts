import { describe, expect, it } from 'vitest';
import type { Alert } from './api.js';
import { draftFromAlert, parametersFor } from './task-prefill.js';

const alert = (tripwire_type: string, event_detail: unknown) =>
  ({ alert_id: 'a1', host_id: 'h1', tripwire_type, event_detail }) as unknown as Alert;

describe('draftFromAlert', () => {
  it('kills the process of a PROCESS alert by pid and start time', () => {
    expect(draftFromAlert(alert('PROCESS', { pid: 4242, start_ticks: 987654 }))).toEqual({
      action: 'kill_process',
      parameters: { pid: '4242', start_ticks: '987654', signal: 'SIGKILL' },
      alert_id: 'a1',
    });
  });

  it('hashes the file of a FILE alert', () => {
    expect(draftFromAlert(alert('FILE', { path: '/tmp/x' }))).toMatchObject({
      action: 'file_hash',
      parameters: { path: '/tmp/x' },
    });
  });
});

describe('parametersFor', () => {
  it('sends numbers as numbers and leaves empty optional fields out', () => {
    expect(
      parametersFor('kill_process', { pid: '12', start_ticks: '34', signal: 'SIGTERM' }),
    ).toEqual({ pid: 12, start_ticks: 34, signal: 'SIGTERM' });
    expect(parametersFor('file_fetch', { path: '/etc/hosts', max_bytes: '' })).toEqual({
      path: '/etc/hosts',
    });
  });
});
