/**
 * One agent process of the ingest scale benchmark (forked by scale-ingest.ts): it holds the
 * `StreamAlertBatches` streams of its share of the agents, each agent on a gRPC connection of
 * its own (a local subchannel pool, as separate agent hosts would have), answers the server's
 * pings as the agent SDK does, and sends alerts when told: at a steady rate, or as fast as each
 * agent's window of unacknowledged alerts allows. For every alert it measures send -> ack.
 *
 * Conversation with the parent, over the IPC channel:
 *   parent: open {address, agents}      -> agents: opened {failed, firstError}
 *   parent: prepare {rate…|burst…}      -> agents: ready   (bursts are encoded beforehand)
 *   parent: go                          -> agents: done {sent, acked, latencies, errors}
 *   parent: close                          (streams end; the process exits)
 */
import { type ClientDuplexStream, credentials } from '@grpc/grpc-js';
import { AgentEventBatch, type ServerCommand } from '@tripwire/proto';
import {
  bearer,
  makeEvent,
  PreEncodedClient,
  type PreEncodedStreamClient,
  type RegisteredAgent,
} from './ingest-harness.js';

export type Plan =
  | { kind: 'rate'; ratePerAgent: number; seconds: number }
  | { kind: 'burst'; alertsPerAgent: number; batch: number; window: number };

export type AgentsCommand =
  | { type: 'open'; address: string; agents: RegisteredAgent[] }
  | { type: 'prepare'; plan: Plan }
  | { type: 'go' }
  | { type: 'close' };

export type AgentsMessage =
  | { type: 'opened'; failed: number; firstError: string | null }
  | { type: 'ready' }
  | { type: 'done'; sent: number; acked: number; latencies: number[]; errors: string[] };

const TICK_MS = 50;
const ACK_TIMEOUT_MS = 60_000;

interface Agent {
  hostId: string;
  client: PreEncodedStreamClient;
  call: ClientDuplexStream<Buffer, ServerCommand>;
  sentAt: Map<string, number>;
  sent: number;
  acked: number;
  /** Burst plan: batches encoded beforehand, the next to send. */
  batches: Array<{ ids: string[]; bytes: Buffer }>;
  next: number;
  /** The server ended the stream: what it still owes is lost (counted, not waited for). */
  ended: boolean;
}

const agents: Agent[] = [];
const errors: string[] = [];
let latencies: number[] = [];
let plan: Plan | null = null;
/** Called after every ack: lets a burst refill windows and the end of a run be noticed. */
let onAck: () => void = () => {};

const send = (message: AgentsMessage) => process.send?.(message);

function openAgent(address: string, registered: RegisteredAgent): Promise<Agent> {
  const client = new PreEncodedClient(address, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  return new Promise((resolve, reject) => {
    (client as unknown as { waitForReady(d: number, cb: (e?: Error) => void): void }).waitForReady(
      Date.now() + 30_000,
      (err) => {
        if (err) return reject(err);
        const call = client.streamAlertBatches(bearer(registered.agentToken));
        const agent: Agent = {
          hostId: registered.hostId,
          client,
          call,
          sentAt: new Map(),
          sent: 0,
          acked: 0,
          batches: [],
          next: 0,
          ended: false,
        };
        call.on('data', (c: ServerCommand) => onCommand(agent, c));
        call.on('error', (e) => {
          if (errors.length < 5) errors.push(e.message);
        });
        call.on('status', (st: { code: number; details: string }) => {
          agent.ended = true;
          if (st.code !== 0 && errors.length < 5) errors.push(`status ${st.code}: ${st.details}`);
          onAck();
        });
        resolve(agent);
      },
    );
  });
}

function onCommand(agent: Agent, c: ServerCommand): void {
  if (c.command?.$case === 'ping') {
    // As the agent SDK answers: an empty batch carrying the pong.
    const pong = { events: [], pongServerTimeUs: c.command.ping.serverTimeUs };
    agent.call.write(Buffer.from(AgentEventBatch.encode(pong).finish()));
    return;
  }
  if (c.command?.$case !== 'ack') return;
  const now = performance.now();
  for (const id of c.command.ack.alertIds) {
    const at = agent.sentAt.get(id);
    if (at === undefined) continue;
    latencies.push(now - at);
    agent.sentAt.delete(id);
    agent.acked++;
  }
  onAck();
}

function write(agent: Agent, ids: string[], bytes: Buffer): void {
  const now = performance.now();
  for (const id of ids) agent.sentAt.set(id, now);
  agent.call.write(bytes);
  agent.sent += ids.length;
}

function encode(agent: Agent, count: number) {
  const events = Array.from({ length: count }, (_, j) => makeEvent(agent.hostId, agent.sent + j));
  return {
    ids: events.map((e) => e.alertId),
    bytes: Buffer.from(AgentEventBatch.encode({ events }).finish()),
  };
}

function prepare(p: Plan): void {
  plan = p;
  latencies = [];
  for (const agent of agents) {
    agent.sent = 0;
    agent.acked = 0;
    agent.next = 0;
    agent.batches = [];
    if (p.kind !== 'burst') continue;
    for (let i = 0; i < p.alertsPerAgent; i += p.batch) {
      agent.batches.push(encode(agent, Math.min(p.batch, p.alertsPerAgent - i)));
      agent.sent += agent.batches[agent.batches.length - 1]!.ids.length;
    }
    agent.sent = 0;
  }
  send({ type: 'ready' });
}

/** Every agent sends `ratePerAgent` alerts/s for `seconds`, phases spread so they do not align. */
async function runRate(p: Extract<Plan, { kind: 'rate' }>): Promise<void> {
  const started = performance.now();
  const phase = (k: number) => k / agents.length;
  for (let elapsed = 0; elapsed < p.seconds; elapsed = (performance.now() - started) / 1000) {
    agents.forEach((agent, k) => {
      if (agent.ended) return;
      const due = Math.floor(elapsed * p.ratePerAgent + phase(k)) - agent.sent;
      if (due > 0) {
        const batch = encode(agent, due);
        write(agent, batch.ids, batch.bytes);
      }
    });
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
}

/** Every agent sends its batches, keeping at most `window` alerts unacknowledged. */
function pumpBurst(window: number): void {
  for (const agent of agents) {
    while (!agent.ended && agent.next < agent.batches.length && agent.sent - agent.acked < window) {
      const b = agent.batches[agent.next++]!;
      write(agent, b.ids, b.bytes);
    }
  }
}

async function go(): Promise<void> {
  const p = plan!;
  const allAcked = () => agents.every((a) => a.ended || a.acked >= a.sent);
  let rateDone = false;
  const finished = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      errors.push(`not every alert acknowledged within ${ACK_TIMEOUT_MS / 1000} s`);
      resolve();
    }, ACK_TIMEOUT_MS);
    onAck = () => {
      if (p.kind === 'burst') pumpBurst(p.window);
      const sending =
        p.kind === 'burst' ? agents.some((a) => !a.ended && a.next < a.batches.length) : !rateDone;
      if (!sending && allAcked()) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  if (p.kind === 'burst') pumpBurst(p.window);
  else {
    await runRate(p);
    rateDone = true;
    onAck();
  }
  await finished;
  onAck = () => {};
  const sent = agents.reduce((n, a) => n + a.sent, 0);
  const acked = agents.reduce((n, a) => n + a.acked, 0);
  send({ type: 'done', sent, acked, latencies, errors: errors.splice(0) });
}

process.on('message', (command: AgentsCommand) => {
  if (command.type === 'open') {
    let failed = 0;
    let firstError: string | null = null;
    void Promise.all(
      command.agents.map((a) =>
        openAgent(command.address, a).then(
          (agent) => void agents.push(agent),
          (err: Error) => {
            failed++;
            firstError ??= err.message;
          },
        ),
      ),
    ).then(() => send({ type: 'opened', failed, firstError }));
  } else if (command.type === 'prepare') prepare(command.plan);
  else if (command.type === 'go') void go();
  else {
    for (const agent of agents) {
      agent.call.end();
      agent.client.close();
    }
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
