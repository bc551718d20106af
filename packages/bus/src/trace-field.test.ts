import { describe, expect, it } from 'vitest';
import { decodeBusEntry, serializeAlertMessage } from './bus-message.js';
import { splitTraceparent, withTraceparent } from './trace-field.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const alert = (traceparent?: string) =>
  serializeAlertMessage(
    {
      alert_id: '0b9a4c0e-8f4b-4b8e-9d3c-3f1f7a0b2c11',
      host_id: '7d1c2b3a-1111-4222-8333-944455556666',
      hostname: 'web-01',
      timestamp: '2026-01-01T00:00:00.000Z',
      timestamp_us: 1,
      received_at: '2026-01-01T00:00:01.000Z',
      tripwire_type: 'FILE',
      rule_name: 'r',
      severity: 'INFO',
    },
    '{"path":"/etc/passwd"}',
    traceparent,
  );

describe('the traceparent member of a bus message', () => {
  it('travels with the message and is split off before anyone reads it', () => {
    const stored = alert(TRACEPARENT);
    expect(JSON.parse(stored).traceparent).toBe(TRACEPARENT);
    const entry = decodeBusEntry('e:1-1', 'e', stored);
    expect(entry.traceparent).toBe(TRACEPARENT);
    // Browsers get `raw` spliced into their frames: exactly the untraced message.
    expect(entry.raw).toBe(alert());
    expect(entry.message).toEqual(JSON.parse(alert()));
  });

  it('is optional: a message written before it (or with tracing off) reads as before', () => {
    const entry = decodeBusEntry('e:1-1', 'e', alert());
    expect(entry.traceparent).toBeUndefined();
    expect(entry.raw).toBe(alert());
    const host = JSON.stringify({ type: 'host', data: { host_id: 'h', status: 'online' } });
    expect(decodeBusEntry('e:1-2', 'e', host)).toEqual({
      position: 'e:1-2',
      epoch: 'e',
      message: JSON.parse(host),
      raw: host,
    });
  });

  it('is never written from a value that is not a version-00 traceparent', () => {
    for (const bad of [
      '',
      TRACEPARENT.toUpperCase(),
      `${TRACEPARENT}-extra`,
      `ff${TRACEPARENT.slice(2)}`,
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0"',
      'x'.repeat(1_000_000),
    ]) {
      expect(withTraceparent('{"type":"gap","data":{}}', bad)).toBe('{"type":"gap","data":{}}');
    }
  });

  it('is not split off a message whose last member only looks like it', () => {
    const forged = `{"type":"gap","data":{},"traceparent":"${'z'.repeat(55)}"}`;
    expect(splitTraceparent(forged)).toEqual({ json: forged });
    expect(splitTraceparent('"}')).toEqual({ json: '"}' });
  });
});
