// Traffic for the dashboard's and the rules' metrics, through the services' real interfaces: an
// agent streaming alerts over gRPC (and one invalid alert, and one call with a bad token), and
// WebSocket clients on the fan-out (one that resumes, one refused).
import { randomUUID } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import {
  type AgentEvent,
  AlertServiceClient,
  type RejectCode,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { until } from '@tripwire/test-fixtures';
import WebSocket from 'ws';

const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

const event = (hostId: string, alertId: string = randomUUID()): AgentEvent => ({
  alertId,
  hostId,
  tripwireType: TripwireType.FILE,
  severity: Severity.CRITICAL,
  timestampUs: Date.now() * 1000,
  ruleName: 'observability',
  eventDetailJson: JSON.stringify({ path: '/etc/shadow' }),
});

/** An enrolled agent that streams a batch of alerts every `everyMs` until stopped. */
export class StreamingAgent {
  readonly acked = new Set<string>();
  readonly rejected: RejectCode[] = [];
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly client: AlertServiceClient,
    readonly hostId: string,
    private readonly call: ReturnType<AlertServiceClient['streamAlertBatches']>,
  ) {
    call.on('data', (c: ServerCommand) => {
      if (c.command?.$case === 'ack') for (const id of c.command.ack.alertIds) this.acked.add(id);
      if (c.command?.$case === 'rejection') this.rejected.push(c.command.rejection.code);
    });
    call.on('error', () => {});
  }

  static async enroll(address: string, enrollmentToken: string): Promise<StreamingAgent> {
    const client = new AlertServiceClient(address, credentials.createInsecure());
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      client.registerAgent(
        { hostname: `observe-${randomUUID().slice(0, 8)}`, platform: 'linux', agentVersion: '1.0' },
        bearer(enrollmentToken),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const call = client.streamAlertBatches(bearer(reg.agentToken));
    return new StreamingAgent(client, reg.hostId, call);
  }

  /** Sends `size` alerts now and every `everyMs`: a steady flow while the checks run. */
  flow(size: number, everyMs: number) {
    const send = () =>
      this.call.write({ events: Array.from({ length: size }, () => event(this.hostId)) });
    send();
    this.timer = setInterval(send, everyMs);
  }

  /** One alert the ingest refuses (an alert_id that is not a UUID): a rejection by code. */
  async sendInvalid() {
    const before = this.rejected.length;
    this.call.write({ events: [event(this.hostId, 'not-a-uuid')] });
    await until(() => this.rejected.length > before, 10_000, 'the rejection');
  }

  /** One call with a token the ingest does not know: a call refused as unauthenticated. */
  async callWithBadToken() {
    await new Promise<void>((resolve) =>
      this.client.submitAlert(event(this.hostId), bearer('tw_not-a-token'), () => resolve()),
    );
  }

  stop() {
    clearInterval(this.timer);
    this.call.end();
    this.client.close();
  }
}

interface Frame {
  type: string;
  position?: string;
  resume?: { status?: string; source?: string };
}

/** A browser's WebSocket on /ws/alerts: records frames; `since` makes it a resume. */
export class AlertSocket {
  readonly frames: Frame[] = [];
  readonly opened: Promise<void>;
  private readonly ws: WebSocket;

  constructor(wsUrl: string, token: string, since?: string) {
    const url = new URL(wsUrl);
    if (since) url.searchParams.set('since', since);
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    this.ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Frame));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
  }

  alerts = () => this.frames.filter((f) => f.type === 'alert');

  welcome = () => this.frames.find((f) => f.type === 'welcome');

  close() {
    this.ws.close();
  }
}
