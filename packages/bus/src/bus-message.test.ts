import { describe, expect, it } from 'vitest';
import { type AlertEventData, alertIdOf, serializeAlertMessage } from './bus-message.js';

describe('serializeAlertMessage', () => {
  it('writes exactly what JSON.stringify would, with awkward text escaped', () => {
    const data: AlertEventData = {
      alert_id: '0b9a4c0e-8f4b-4b8e-9d3c-3f1f7a0b2c11',
      host_id: '7d1c2b3a-1111-4222-8333-944455556666',
      hostname: 'web "01"\\east',
      timestamp: '2026-01-01T00:00:00.000Z',
      timestamp_us: 1_767_225_600_000_123,
      received_at: '2026-01-01T00:00:01.000Z',
      tripwire_type: 'FILE',
      rule_name: 'etc\npasswd ✓',
      severity: 'CRITICAL',
      event_detail: { path: '/etc/passwd', nested: [1, { a: null }] },
    };
    const { event_detail, ...rest } = data;
    const json = serializeAlertMessage(rest, JSON.stringify(event_detail));
    expect(json).toBe(JSON.stringify({ type: 'alert', data }));
    expect(JSON.parse(serializeAlertMessage(rest, null)).data.event_detail).toBeNull();
  });
});

describe('alertIdOf', () => {
  it('reads the id of an alert message, and nothing from any other message', () => {
    const id = '0b9a4c0e-8f4b-4b8e-9d3c-3f1f7a0b2c11';
    const alert = serializeAlertMessage(
      {
        alert_id: id,
        host_id: '7d1c2b3a-1111-4222-8333-944455556666',
        hostname: 'web-01',
        timestamp: '2026-01-01T00:00:00.000Z',
        timestamp_us: 1,
        received_at: '2026-01-01T00:00:01.000Z',
        tripwire_type: 'FILE',
        rule_name: 'r',
        severity: 'INFO',
      },
      null,
    );
    expect(alertIdOf(alert)).toBe(id);
    expect(alertIdOf(JSON.stringify({ type: 'alert', data: { alert_id: id, host_id: 'h' } }))).toBe(
      id,
    );
    expect(alertIdOf(JSON.stringify({ type: 'host', data: { host_id: id } }))).toBeNull();
    expect(alertIdOf('{"type":"alert","data":{"alert_id":"short"}}')).toBeNull();
    expect(alertIdOf('')).toBeNull();
  });
});
