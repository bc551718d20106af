// The whole run, in order: start the stack and the agents (registered, idle), connect the
// clients (greeted before any alert exists, so each one should see every stored alert its
// filter selects), let the agents generate while faults happen on the seed's schedule and
// clients bounce, wait for quiescence (every outbox empty), let the clients catch up, then
// compare what PostgreSQL holds with what was generated and with what each client saw.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOperatorTokens } from '@tripwire/operator-auth';
import pg from 'pg';
import { AgentFleet } from './agent-fleet.js';
import { readProgress } from './agent-progress.js';
import { BusyNeighbours } from './busy-neighbours.js';
import { type ChaosStack, startChaosStack } from './chaos-stack.js';
import { alertMatches, clientFilters, describeFilter } from './client-filters.js';
import { checkDelivery, type DeliveryReport, type StoredAlert } from './delivery-check.js';
import { FaultInjector, type FaultLogEntry } from './fault-injector.js';
import { scheduleFaults } from './fault-schedule.js';
import { ResumingClient } from './resuming-client.js';
import type { RunOptions } from './run-options.js';
import { seededRandom } from './seeded-random.js';
import { sleep, waitFor } from './wait-for.js';

export interface ChaosResult {
  options: RunOptions;
  report: DeliveryReport;
  faults: FaultLogEntry[];
  filters: string[];
  /** `status/source/reason` → count, over every client. */
  resumes: Map<string, number>;
  notices: Map<string, number>;
  connects: number;
  agentKills: number;
  unexpectedExits: string[];
  seconds: { generation: number; quiescence: number; total: number };
  /** Stored alerts the ledger still called unpublished when the clients were judged. */
  unpublished: number;
}

/** Mean seconds between two disconnects a client makes on its own. */
const BOUNCE_MEAN_S = 8;
/** After quiescence, how long the ingests get to publish every stored alert. */
const PUBLISH_WAIT_MS = 120_000;
/** After quiescence, how long a client may go without a new alert before it is judged. */
const CATCH_UP_STALL_MS = 5_000;

export async function runChaos(
  options: RunOptions,
  databaseServerUrl: string,
  say: (line: string) => void = () => {},
): Promise<ChaosResult> {
  const t0 = Date.now();
  const random = seededRandom(options.seed);
  const dir = mkdtempSync(join(tmpdir(), 'tripwire-chaos-'));
  say(`seed ${options.seed}; state in ${dir}`);
  const busy = new BusyNeighbours(options.busy);
  const stack = await startChaosStack(databaseServerUrl).catch((err) => {
    busy.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const fleet = new AgentFleet({
    dir,
    agents: options.agents,
    alerts: options.alerts,
    durationS: options.durationS,
    servers: stack.ingestAddresses,
    enrollmentToken: stack.enrollmentToken,
  });
  let clients: ResumingClient[] = [];
  try {
    say('stack up; registering agents');
    await fleet.start();
    clients = await connectClients(stack, fleet, options, random);
    const phase = await generateUnderFaults(stack, fleet, clients, options, random, say);
    const tq = Date.now();
    say('waiting for quiescence (every agent outbox empty)');
    await waitFor(() => fleet.quiescent, 180_000, 'every agent outbox to be empty', 500);
    // Stored is not yet published: an ingest's backlog, or the sweep of a killed one, may still
    // be at work (slowly, on a crowded node). Judged before that ends, those would count as
    // missing although they are on their way; what is still unpublished is shown apart.
    say('waiting for every stored alert to be published');
    const unpublished = await waitUntilPublished(stack.databaseUrl);
    const quiescenceS = (Date.now() - tq) / 1000;
    const stored = await storedAlerts(stack.databaseUrl);
    await catchUp(clients, stored);
    const report = checkDelivery({
      stored,
      agents: fleet.slots.map((s) => readProgress(s.config.progressFile)),
      clients: clients.map((c) => ({ name: c.name, filter: c.filter, record: c.record })),
      startedAtMs: phase.startedAtMs,
    });
    return {
      options,
      report,
      faults: phase.faults,
      filters: clients.map((c) => `${c.name}: ${describeFilter(c.filter)}`),
      resumes: sumMaps(clients.map((c) => c.record.resumes)),
      notices: sumMaps(clients.map((c) => c.record.notices)),
      connects: clients.reduce((n, c) => n + c.record.connects, 0),
      agentKills: fleet.kills,
      unpublished,
      unexpectedExits: unexpectedExits(stack, fleet),
      seconds: {
        generation: phase.seconds,
        quiescence: quiescenceS,
        total: (Date.now() - t0) / 1000,
      },
    };
  } finally {
    for (const c of clients) c.stop();
    busy.stop();
    await fleet.stop();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function connectClients(
  stack: ChaosStack,
  fleet: AgentFleet,
  options: RunOptions,
  random: ReturnType<typeof seededRandom>,
) {
  const token = await createOperatorTokens(stack.operatorJwtSecret).issue('chaos', 'viewer', '2h');
  const hostIds = fleet.slots.map((s) => s.hostId);
  const filters = clientFilters(options.clients, hostIds, random.fork('filters'));
  const clients = filters.map(
    (filter, i) =>
      new ResumingClient(
        `client-${String(i + 1).padStart(2, '0')}`,
        filter,
        () => stack.fanoutWsUrls,
        token,
        random.fork(`client-${i}`),
        i === 0 ? options.injectDrop : 0,
      ),
  );
  for (const c of clients) c.start();
  // A position too (the welcome's, or the agents' host-online frames): from then on a client
  // that leaves resumes exactly, before the first alert exists.
  await waitFor(
    () => clients.every((c) => c.connected && c.hasPosition),
    30_000,
    'every client to be greeted and to hold a position',
  );
  return clients;
}

async function generateUnderFaults(
  stack: ChaosStack,
  fleet: AgentFleet,
  clients: ResumingClient[],
  options: RunOptions,
  random: ReturnType<typeof seededRandom>,
  say: (line: string) => void,
) {
  const schedule = scheduleFaults(
    options.faults,
    options.durationS,
    options.agents,
    random.fork('faults'),
  );
  say(`generating ${options.alerts} alerts over ${options.durationS} s; ${schedule.length} faults`);
  const t0 = Date.now();
  const injector = new FaultInjector(stack, fleet, t0);
  fleet.go();
  const timers = schedule.map((f) => setTimeout(() => injector.inject(f), f.atMs));
  const bounceRandom = random.fork('bounces');
  const bouncer = setInterval(() => {
    // Each client leaves on its own about every BOUNCE_MEAN_S seconds.
    for (const c of clients) if (bounceRandom.next() < 0.5 / BOUNCE_MEAN_S) c.bounce();
  }, 500);
  const progress = setInterval(() => {
    const s = fleet.summary();
    say(
      `  ${((Date.now() - t0) / 1000).toFixed(0)} s: generated ${s.generated}, queued ${s.queued}`,
    );
  }, 15_000);
  try {
    await sleep(options.durationS * 1000);
    await waitFor(() => injector.log.length === schedule.length, 60_000, 'every fault to begin');
    await injector.settled();
  } finally {
    clearInterval(bouncer);
    clearInterval(progress);
    for (const t of timers) clearTimeout(t);
  }
  return { faults: injector.log, seconds: (Date.now() - t0) / 1000, startedAtMs: t0 };
}

/** Every stored alert, with the agent and sequence number the run put in its detail. */
/** Waits (bounded) until the ledger marks every stored alert published; returns how many are not. */
async function waitUntilPublished(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const count = async () =>
    (
      await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM alert_ids WHERE NOT published',
      )
    ).rows[0]!.n;
  try {
    await waitFor(async () => (await count()) === 0, PUBLISH_WAIT_MS, 'every alert published', 500);
  } catch {
    // Reported, not thrown: the clients are judged all the same.
  }
  try {
    return await count();
  } finally {
    await client.end();
  }
}

async function storedAlerts(databaseUrl: string): Promise<StoredAlert[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<StoredAlert>(
      `SELECT alert_id, host_id, severity::text AS severity, tripwire_type::text AS tripwire_type,
              (event_detail->>'chaos_agent')::int AS chaos_agent,
              (event_detail->>'chaos_seq')::int AS chaos_seq,
              (extract(epoch FROM a.received_at) * 1000)::float8 AS received_ms,
              l.bus_epoch || ':' || l.bus_offset AS ledger_position
         FROM alerts a LEFT JOIN alert_ids l USING (alert_id)`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** Clients connected, then judged once each has everything or has received nothing new for a while. */
async function catchUp(clients: ResumingClient[], stored: StoredAlert[]) {
  await waitFor(() => clients.every((c) => c.connected), 60_000, 'every client to be connected');
  const expected = clients.map((c) => stored.filter((a) => alertMatches(c.filter, a)).length);
  let lastSizes = clients.map((c) => c.record.received.size);
  let lastChange = Date.now();
  await waitFor(
    () => {
      const sizes = clients.map((c) => c.record.received.size);
      if (sizes.some((n, i) => n !== lastSizes[i])) lastChange = Date.now();
      lastSizes = sizes;
      const complete = clients.every(
        (c, i) => c.record.received.size + c.record.injectedDrops >= expected[i]!,
      );
      return complete || Date.now() - lastChange > CATCH_UP_STALL_MS;
    },
    120_000,
    'the clients to catch up',
    250,
  );
}

function unexpectedExits(stack: ChaosStack, fleet: AgentFleet): string[] {
  const out: string[] = [];
  for (const s of [...stack.ingests, ...stack.fanouts]) {
    if (s.process.unexpectedExits)
      out.push(
        `${s.process.label} exited ${s.process.unexpectedExits}x; the last time:\n      ${s.process.lastCrash.join('\n      ')}`,
      );
  }
  for (const slot of fleet.slots) {
    if (slot.unexpectedExits)
      out.push(
        `agent ${slot.config.index} exited ${slot.unexpectedExits}x: ${slot.output.slice(-2).join(' | ')}`,
      );
  }
  return out;
}

function sumMaps(maps: Array<Map<string, number>>): Map<string, number> {
  const total = new Map<string, number>();
  for (const m of maps) for (const [k, v] of m) total.set(k, (total.get(k) ?? 0) + v);
  return total;
}
