// A small real gRPC server that plays the ingest service's part for the task stream (the real
// TaskService lives on the server side, built separately): it registers the agent, keeps its
// alert stream open and acknowledges alerts, and on StreamTasks checks the agent token, records
// every message the agent sends, and sends the TaskRequests and cancels a test asks for.
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import {
  type AgentEventBatch,
  type AgentTaskPolicy,
  AlertServiceService,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
  type ServerCommand,
  type StreamTasksRequest,
  type StreamTasksResponse,
  type TaskRequest,
  type TaskResponse,
  TaskServiceService,
} from '@tripwire/proto';
import { until } from '@tripwire/test-fixtures';

export const AGENT_TOKEN = 'fake-agent-token-0123456789abcdef';

type TaskCall = ServerDuplexStream<StreamTasksRequest, StreamTasksResponse>;

export class FakeTaskServer {
  readonly responses: TaskResponse[] = [];
  readonly policies: AgentTaskPolicy[] = [];
  /** Every StreamTasks call opened, with the first message's case. */
  readonly streams: Array<{ first: string | undefined }> = [];
  /** Tasks to send on each new stream (at-least-once delivery after a reconnect). */
  redeliver: TaskRequest[] = [];
  /** Acknowledge final responses (TaskOutcomeAck) as they arrive. */
  ackOutcomes = true;
  private readonly server = new Server();
  private call: TaskCall | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server.addService(AlertServiceService, {
      registerAgent: (
        _call: ServerUnaryCall<RegisterAgentRequest, RegisterAgentResponse>,
        done: sendUnaryData<RegisterAgentResponse>,
      ) =>
        done(null, { hostId: 'host-1', agentToken: AGENT_TOKEN, serverTimeUs: Date.now() * 1000 }),
      streamAlerts: (call: ServerDuplexStream<unknown, ServerCommand>) =>
        call.on('end', () => call.end()),
      streamAlertBatches: (call: ServerDuplexStream<AgentEventBatch, ServerCommand>) => {
        call.on('data', (batch: AgentEventBatch) => {
          const alertIds = batch.events.map((e) => e.alertId);
          if (alertIds.length) call.write({ command: { $case: 'ack', ack: { alertIds } } });
        });
        call.on('error', () => {});
        call.on('end', () => call.end());
      },
      submitAlert: (_call: unknown, done: sendUnaryData<unknown>) =>
        done({ code: status.UNIMPLEMENTED, details: 'not here' }),
    });
    this.server.addService(TaskServiceService, {
      streamTasks: (call: TaskCall) => this.onStream(call),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private onStream(call: TaskCall): void {
    if (call.metadata.get('authorization')[0] !== `Bearer ${AGENT_TOKEN}`) {
      call.emit('error', { code: status.UNAUTHENTICATED, details: 'bad agent token' });
      return;
    }
    const entry: { first: string | undefined } = { first: undefined };
    this.streams.push(entry);
    this.call = call;
    call.on('data', (m: StreamTasksRequest) => {
      entry.first ??= m.message?.$case;
      if (m.message?.$case === 'policy') this.policies.push(m.message.policy);
      if (m.message?.$case !== 'taskResponse') return;
      const r = m.message.taskResponse;
      this.responses.push(r);
      if (r.isFinal && this.ackOutcomes)
        call.write({ message: { $case: 'outcomeAck', outcomeAck: { taskIds: [r.taskId] } } });
    });
    call.on('error', () => {});
    call.on('end', () => call.end());
    for (const task of this.redeliver) this.send(task);
  }

  /** Waits for the agent's task stream, then sends the request on it. */
  async sendTask(request: TaskRequest): Promise<void> {
    await until(() => this.call !== undefined && !this.call.cancelled, 20_000, 'the task stream');
    this.send(request);
  }

  private send(taskRequest: TaskRequest): void {
    this.call!.write({ message: { $case: 'taskRequest', taskRequest } });
  }

  of(taskId: string): TaskResponse[] {
    return this.responses.filter((r) => r.taskId === taskId);
  }

  async final(taskId: string, timeoutMs = 30_000): Promise<TaskResponse> {
    await until(
      () => this.of(taskId).some((r) => r.isFinal),
      timeoutMs,
      `the outcome of ${taskId}`,
    );
    return this.of(taskId).find((r) => r.isFinal)!;
  }

  /** Drops the current stream (a server restart, a network cut) by ending the call from here. */
  dropStream(): void {
    this.call?.emit('error', { code: status.UNAVAILABLE, details: 'server going away' });
    this.call = undefined;
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }
}
