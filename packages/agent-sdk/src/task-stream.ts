import { type ClientDuplexStream, Metadata, type StatusObject } from '@grpc/grpc-js';
import type {
  AgentTaskPolicy,
  StreamTasksRequest,
  StreamTasksResponse,
  TaskRequest,
  TaskResponse,
  TaskServiceClient,
} from '@tripwire/proto';

export interface TaskStreamOptions {
  client: TaskServiceClient;
  agentToken: string;
  policy: AgentTaskPolicy;
  onRequest: (request: TaskRequest) => void;
  onOutcomeAck: (taskIds: string[]) => void;
}

/**
 * One StreamTasks call: the policy goes first, then responses as they come; task requests and
 * outcome acknowledgements are passed on. It ends however the call ends; the channel then
 * opens another.
 */
export class TaskStream {
  readonly ended: Promise<StatusObject>;
  readonly openedAt = Date.now();
  /** The server has said something on this stream (it accepted the token). */
  established = false;
  private readonly call: ClientDuplexStream<StreamTasksRequest, StreamTasksResponse>;
  private finished = false;

  constructor(private readonly options: TaskStreamOptions) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${options.agentToken}`);
    this.call = options.client.streamTasks(metadata);
    this.ended = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => {}); // the status says it all
    this.call.on('data', (message: StreamTasksResponse) => this.onData(message));
    void this.ended.then(() => {
      this.finished = true;
    });
    this.sendPolicy(options.policy);
  }

  get open(): boolean {
    return !this.finished;
  }

  sendPolicy(policy: AgentTaskPolicy): boolean {
    return this.write({ message: { $case: 'policy', policy } });
  }

  /**
   * Queued on the call even when HTTP/2 flow control says wait (write() returns false): what
   * waits in memory is bounded by the tasks' output caps times the tasks running at once.
   */
  send(taskResponse: TaskResponse): boolean {
    return this.write({ message: { $case: 'taskResponse', taskResponse } });
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.call.end();
  }

  cancel(): void {
    this.finished = true;
    this.call.cancel();
  }

  private write(message: StreamTasksRequest): boolean {
    if (this.finished) return false;
    this.call.write(message);
    return true;
  }

  private onData(message: StreamTasksResponse): void {
    this.established = true;
    const m = message.message;
    if (m?.$case === 'taskRequest') this.options.onRequest(m.taskRequest);
    else if (m?.$case === 'outcomeAck') this.options.onOutcomeAck(m.outcomeAck.taskIds);
  }
}
