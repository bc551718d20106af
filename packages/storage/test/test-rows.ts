import { randomUUID } from 'node:crypto';
import { upsertHost } from '../src/host-store.js';
import type { NewAlert } from '../src/models.js';
import type { Queryable } from '../src/pool.js';

/** A registered host with a unique name (unless one is given). */
export function newHost(db: Queryable, name = `host-${randomUUID().slice(0, 8)}`) {
  return upsertHost(db, {
    hostname: name,
    platform: 'linux',
    agentVersion: '1.0.0',
    agentTokenHash: Buffer.from(randomUUID()),
  });
}

/** A valid alert for `hostId`, seen now: a WARN FILE alert on /etc/passwd unless overridden. */
export function newAlert(hostId: string, over: Partial<NewAlert> = {}): NewAlert {
  return {
    alertId: randomUUID(),
    hostId,
    occurredAtUs: Date.now() * 1000,
    tripwireType: 'FILE',
    severity: 'WARN',
    ruleName: 'etc-passwd-watch',
    eventDetailJson: '{"path":"/etc/passwd"}',
    ...over,
  };
}
