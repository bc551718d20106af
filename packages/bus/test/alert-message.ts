import { randomUUID } from 'node:crypto';
import type { BusMessage } from '../src/bus-message.js';

/** The n-th test alert as ingest publishes it: its own ids, `n` in the detail. */
export const alertMessage = (n: number): BusMessage => ({
  type: 'alert',
  data: {
    alert_id: randomUUID(),
    host_id: randomUUID(),
    hostname: `web-${n}`,
    timestamp: new Date().toISOString(),
    timestamp_us: Date.now() * 1000,
    received_at: new Date().toISOString(),
    tripwire_type: 'FILE',
    rule_name: 'etc-watch',
    severity: 'CRITICAL',
    event_detail: { n },
  },
});
