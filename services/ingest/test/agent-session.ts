// gRPC agent helpers shared by the tests and the benchmark (no test-runner imports here).
import { type ClientDuplexStream, Metadata, type StatusObject } from '@grpc/grpc-js';
import type { AgentEvent, AlertServiceClient, ServerCommand } from '@tripwire/proto';
// The subpath, not the package index: the index brings vitest, which the benchmark must not load.
import { until } from '@tripwire/test-fixtures/until';

export { until };

export const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

/** An agent stream that records everything the server says. */
export class AgentSession {
  readonly commands: ServerCommand[] = [];
  readonly acked = new Set<string>();
  readonly rejections: Array<{ alertId: string; code: number; reason: string }> = [];
  readonly status: Promise<StatusObject>;
  readonly call:
    | ClientDuplexStream<AgentEvent, ServerCommand>
    | ClientDuplexStream<{ events: AgentEvent[] }, ServerCommand>;

  constructor(
    client: AlertServiceClient,
    token: string,
    readonly batched = false,
  ) {
    this.call = batched
      ? client.streamAlertBatches(bearer(token))
      : client.streamAlerts(bearer(token));
    this.call.on('data', (c: ServerCommand) => {
      this.commands.push(c);
      if (c.command?.$case === 'ack') for (const id of c.command.ack.alertIds) this.acked.add(id);
      if (c.command?.$case === 'rejection') this.rejections.push(c.command.rejection);
    });
    this.status = new Promise((resolve) => {
      this.call.on('status', resolve);
      this.call.on('error', () => {});
    });
  }

  send(events: AgentEvent[]): boolean {
    if (this.batched)
      return (this.call as ClientDuplexStream<{ events: AgentEvent[] }, ServerCommand>).write({
        events,
      });
    let ok = true;
    for (const e of events)
      ok = (this.call as ClientDuplexStream<AgentEvent, ServerCommand>).write(e) && ok;
    return ok;
  }

  waitForAcks(ids: string[], timeoutMs = 10_000) {
    return until(
      () => ids.every((id) => this.acked.has(id)),
      timeoutMs,
      `acks for ${ids.length} alerts`,
    );
  }

  end() {
    this.call.end();
  }
}
