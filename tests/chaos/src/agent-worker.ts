// One agent: the real agent SDK (durable outbox in its own state folder) generating its share
// of the run's alerts at a steady rate, as its own process so the run can kill -9 it and start
// it again on the same folder. Talks to the run over IPC: "started" (host id), "stats" every
// half second; the run answers "go" (start generating) and "stop".
import { createAgentClient, type SeverityName, type TripwireTypeName } from '@tripwire/agent-sdk';
import { readProgress, recordDurable, recordIntent } from './agent-progress.js';

export interface AgentWorkerConfig {
  index: number;
  servers: string;
  enrollmentToken: string;
  stateDir: string;
  progressFile: string;
  hostname: string;
  /** Alerts this agent generates in all. */
  quota: number;
  alertsPerSecond: number;
  /** Generate without waiting for "go" (a restart after the run began). */
  go: boolean;
}

export type WorkerMessage =
  | { type: 'started'; hostId: string }
  | {
      type: 'stats';
      generated: number;
      queued: number;
      acked: number;
      rejected: number;
      done: boolean;
    };

const TYPES: TripwireTypeName[] = ['FILE', 'NETWORK', 'PROCESS'];
const SEVERITIES: SeverityName[] = ['INFO', 'WARN', 'CRITICAL'];
const TICK_MS = 100;

/** The same alert for the same (agent, seq) on every run and restart. */
function alertKind(index: number, seq: number) {
  const h = Math.imul(index * 7919 + seq, 2_654_435_761) >>> 0;
  return { type: TYPES[h % 3]!, severity: SEVERITIES[(h >>> 8) % 3]! };
}

async function main() {
  const config = JSON.parse(process.env.CHAOS_AGENT ?? '') as AgentWorkerConfig;
  const send = (m: WorkerMessage) => process.send?.(m);
  const client = createAgentClient({
    server: config.servers,
    enrollmentToken: config.enrollmentToken,
    stateDir: config.stateDir,
    hostname: config.hostname,
    agentVersion: 'chaos',
    outboxMaxBytes: 512 * 1024 * 1024,
    lockStaleMs: 5_000,
    backoff: { initialMs: 200, maxMs: 2_000 },
    onFatal: () => process.exit(3),
  });
  await client.start();
  send({ type: 'started', hostId: client.hostId });

  let go = config.go;
  let nextSeq = readProgress(config.progressFile).nextSeq;
  let generated = nextSeq;
  process.on('message', (m: { type: string }) => {
    if (m.type === 'go') go = true;
    if (m.type === 'stop') void client.stop().then(() => process.exit(0));
  });
  setInterval(() => {
    const s = client.stats();
    const done = generated >= config.quota;
    send({
      type: 'stats',
      generated,
      queued: s.queued,
      acked: s.acked,
      rejected: s.rejected,
      done,
    });
  }, 500);

  let carry = 0;
  let lastTick = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, TICK_MS));
    // By the clock, not by ticks: on a busy machine ticks come late and batches grow instead.
    const now = Date.now();
    const elapsedMs = now - lastTick;
    lastTick = now;
    if (!go || nextSeq >= config.quota) continue;
    carry += (config.alertsPerSecond * elapsedMs) / 1000;
    const count = Math.min(Math.floor(carry), config.quota - nextSeq);
    if (count < 1) continue;
    carry -= count;
    const from = nextSeq;
    const to = from + count - 1;
    recordIntent(config.progressFile, from, to);
    nextSeq = to + 1;
    const enqueued: Promise<string>[] = [];
    for (let seq = from; seq <= to; seq++) {
      const kind = alertKind(config.index, seq);
      enqueued.push(
        client.enqueue({
          tripwireType: kind.type,
          severity: kind.severity,
          ruleName: `chaos-${kind.type.toLowerCase()}`,
          detail: { chaos_agent: config.index, chaos_seq: seq },
        }),
      );
    }
    await Promise.all(enqueued);
    recordDurable(config.progressFile, to);
    generated = nextSeq;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
