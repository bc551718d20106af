// An agent speaking gRPC directly, without the SDK's outbox: what tests need to control exactly
// which alerts are sent, resent and acknowledged.
import { randomUUID } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import {
  type AgentEvent,
  type AlertServiceClient,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { ENROLLMENT_TOKEN } from './fanout-harness.js';

const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

/** A raw gRPC agent: registers, streams batches, records acknowledged ids. */
export class RawAgent {
  readonly acked = new Set<string>();
  private constructor(
    readonly hostId: string,
    private readonly token: string,
  ) {}

  static async register(client: AlertServiceClient): Promise<RawAgent> {
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      client.registerAgent(
        { hostname: `once-${randomUUID().slice(0, 8)}`, platform: 'linux', agentVersion: '1.0' },
        bearer(ENROLLMENT_TOKEN),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    return new RawAgent(reg.hostId, reg.agentToken);
  }

  event(alertId = randomUUID()): AgentEvent {
    return {
      alertId,
      hostId: this.hostId,
      tripwireType: TripwireType.FILE,
      severity: Severity.CRITICAL,
      timestampUs: Date.now() * 1000,
      ruleName: 'exactly-once',
      eventDetailJson: JSON.stringify({ path: '/etc/shadow' }),
    };
  }

  /** Sends the events on a new stream to `client`; the stream stays open until the call ends. */
  stream(client: AlertServiceClient, events: AgentEvent[]) {
    const call = client.streamAlertBatches(bearer(this.token));
    call.on('data', (c: ServerCommand) => {
      if (c.command?.$case === 'ack') for (const id of c.command.ack.alertIds) this.acked.add(id);
    });
    call.on('error', () => {});
    for (let i = 0; i < events.length; i += 100) call.write({ events: events.slice(i, i + 100) });
    return call;
  }
}
