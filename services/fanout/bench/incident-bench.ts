// pnpm bench:incidents — how soon one operator's change to an incident is visible to every
// other operator, against the real fan-out service (its build, `node dist/main.js`, as its own
// process) on real PostgreSQL and Redis. One admin changes incidents over REST
// (`PATCH /api/incidents/:id`: state alternating ACKNOWLEDGED / OPEN with a note, every
// fourth change also (un)assigning); BENCH_VIEWERS other operators watch. Two ways of watching,
// measured in the same run, on the same server, with the same kind of changes:
//   - push:     each viewer holds /ws/alerts?kind=incident and gets an `incident` frame per
//               change (matched on incident_id + revision)
//   - poll 1/s: the naive dashboard (baseline): each viewer polls `GET /api/incidents/:id`
//               for every incident being changed, once a second each (random phase)
// Each is measured twice: sequentially (one PATCH at a time, the next sent when the previous
// answered, round-robin over the incidents) and in a burst (one chain of PATCHes per incident,
// every chain at once, each chain back-to-back: BENCH_INCIDENTS changes in flight). Every
// phase opens BENCH_INCIDENTS fresh incidents (notes are append-only, so reusing them would make
// later phases move bigger incidents), before anyone watches.
//
// Per change it times, from just before the PATCH is sent: (a) the PATCH response, and (b) the
// moment each viewer has it (frame received / first poll answer showing that revision or a
// later one). "Visible to every other operator" is the slowest viewer's time for that change;
// a change some viewer never got within BENCH_DRAIN_MS counts as slower than every other.
// It also reports the share of changes visible to every viewer within 1 s (target 100%),
// frames received against expected (no loss, no duplicates), and the server's CPU.
// Viewers, pollers and the admin all live in this one process (a 2-core machine has no cores
// to spare for client processes); the viewers only find incident_id and revision in each
// frame's bytes (no JSON.parse), so the receipt times stay close to the wire.
//
// Knobs (environment):
//   BENCH_VIEWERS (50)      watching operators     BENCH_CHANGES (300)  changes per phase
//   BENCH_INCIDENTS (10)    incidents changed      BENCH_DRAIN_MS (5000) wait for late views
//   BENCH_PHASES (push-seq,push-burst,poll-seq,poll-burst)
//   DATABASE_URL / REDIS_URL  local servers by default. The run uses a database of its own
//   (tripwire_bench_incidents_<time>, created, migrated and dropped at the end: the audit log
//   is append-only, so rows cannot be deleted one by one) and a Redis key prefix of its own
//   (deleted at the end).

import { randomBytes, randomUUID } from 'node:crypto';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { parseCommandLine } from '@tripwire/config';
import { createPool, ensureDatabaseExists, migrateDatabase, upsertHost } from '@tripwire/storage';
import WebSocket from 'ws';
import { createOperatorAuth } from '../src/operator-auth.js';
import { isWelcomeFrame } from './alert-frame.js';
import {
  type BuiltService,
  CPUS,
  children,
  cpuSeconds,
  freePort,
  machineTicks,
  sleep,
  startBuiltService,
  stopChild,
} from './bench-process.js';
import { benchRun, cleanUpRun, untilFanoutReady } from './bench-run.js';
import { LatencyHistogram } from './latency-histogram.js';

parseCommandLine({
  usage: `usage: pnpm bench:incidents

An incident change over REST reaching every viewer over WebSocket, against polling
(BENCHMARKS.md). Takes no options; settings come from the environment:
  BENCH_VIEWERS    operators watching (default 50)
  BENCH_CHANGES    changes per phase (default 300)
  BENCH_INCIDENTS  incidents changed (default 10)
  BENCH_DRAIN_MS   wait for the last deliveries (default 5000)
  BENCH_PHASES     comma list (default push-seq,push-burst,poll-seq,poll-burst)
  DATABASE_URL, REDIS_URL   the servers (a database and key prefix of its own)`,
  options: {},
});

const VIEWERS = Number(process.env.BENCH_VIEWERS ?? 50);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 300);
const INCIDENTS = Number(process.env.BENCH_INCIDENTS ?? 10);
const DRAIN_MS = Number(process.env.BENCH_DRAIN_MS ?? 5_000);
const PHASES = (process.env.BENCH_PHASES ?? 'push-seq,push-burst,poll-seq,poll-burst').split(
  ',',
) as PhaseName[];
const POLL_INTERVAL_MS = 1_000;
const TARGET_MS = 1_000;
const RUN = benchRun('incidents');
const { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, prefix: PREFIX } = RUN;
const JWT_SECRET = `bench-incidents-secret-${randomUUID()}`;

const PACKAGE_DIR = new URL('..', import.meta.url).pathname;

type PhaseName = 'push-seq' | 'push-burst' | 'poll-seq' | 'poll-burst';
type Mode = 'seq' | 'burst';
type Watch = 'push' | 'poll';

const now = () => performance.now();

// ---- the fan-out -------------------------------------------------------------------

interface RunningServer extends BuiltService {
  base: string;
}

async function startServer(publisher: BusPublisher): Promise<RunningServer> {
  const port = await freePort();
  const server = startBuiltService('fan-out', PACKAGE_DIR, {
    DATABASE_URL,
    REDIS_URL,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: String(port),
    BUS_KEY_PREFIX: PREFIX,
    LOG_LEVEL: 'warn',
  });
  const base = `http://127.0.0.1:${port}`;
  await untilFanoutReady(server, base, publisher);
  return { ...server, base };
}

// ---- REST ----------------------------------------------------------------------------

async function api(
  base: string,
  token: string,
  path: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: { incident?: { incident_id: string; revision: number } } }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

// ---- changes ----------------------------------------------------------------------------

interface Incident {
  id: string;
  state: 'OPEN' | 'ACKNOWLEDGED';
  changes: number;
}

interface Change {
  incidentId: string;
  sentAt: number;
  answeredAt: number;
  /** The revision the PATCH answered with; -1 when it failed. */
  revision: number;
  /** Per viewer: when it first had this change (Infinity: never, within the drain). */
  seenAt: Float64Array;
}

let changeNumber = 0;

/** One operator change: the state flips, a note is added, every fourth also (un)assigns. */
function nextBody(incident: Incident): Record<string, unknown> {
  incident.state = incident.state === 'OPEN' ? 'ACKNOWLEDGED' : 'OPEN';
  const n = ++changeNumber;
  incident.changes++;
  return {
    state: incident.state,
    note: `bench change ${n}: ${incident.state === 'ACKNOWLEDGED' ? 'looking into it' : 'back to the queue'}`,
    ...(incident.changes % 4 === 0 ? { assignee: n % 8 === 0 ? null : `oncall-${n % 3}` } : {}),
  };
}

const patchErrors: Record<string, number> = {};

async function change(base: string, token: string, incident: Incident): Promise<Change> {
  const body = nextBody(incident);
  const sentAt = now();
  let revision = -1;
  try {
    const res = await api(base, token, `/api/incidents/${incident.id}`, 'PATCH', body);
    if (res.status === 200 && res.body.incident) revision = res.body.incident.revision;
    else patchErrors[res.status] = (patchErrors[res.status] ?? 0) + 1;
  } catch (err) {
    const key = (err as Error).message;
    patchErrors[key] = (patchErrors[key] ?? 0) + 1;
  }
  return {
    incidentId: incident.id,
    sentAt,
    answeredAt: now(),
    revision,
    seenAt: new Float64Array(VIEWERS).fill(Number.POSITIVE_INFINITY),
  };
}

/** `count` changes: one at a time round-robin, or one back-to-back chain per incident, all at once. */
async function makeChanges(
  base: string,
  token: string,
  incidents: Incident[],
  mode: Mode,
  count: number,
): Promise<Change[]> {
  if (mode === 'seq') {
    const changes: Change[] = [];
    for (let i = 0; i < count; i++)
      changes.push(await change(base, token, incidents[i % incidents.length]!));
    return changes;
  }
  const chains = incidents.map(async (incident, c) => {
    const changes: Change[] = [];
    for (let i = c; i < count; i += incidents.length)
      changes.push(await change(base, token, incident));
    return changes;
  });
  return (await Promise.all(chains)).flat().sort((a, b) => a.sentAt - b.sentAt);
}

// ---- viewers: push ------------------------------------------------------------------------

const INCIDENT_ID = Buffer.from('"incident_id":"');
const REVISION = Buffer.from('"revision":');
const TYPE_AT = 9; // {"type":"<name>": the type's first letter
const I = 'i'.charCodeAt(0);

/** incident_id and revision of an incident frame, read from its bytes. */
function frameKey(frame: Buffer): string | null {
  if (frame[TYPE_AT] !== I) return null;
  const id = frame.indexOf(INCIDENT_ID);
  // The last "revision": is the incident's own: inside a note's text its quotes would be escaped.
  const rev = frame.lastIndexOf(REVISION);
  if (id < 0 || rev < 0) return null;
  let revision = 0;
  for (let i = rev + REVISION.length; i < frame.length; i++) {
    const c = frame[i]!;
    if (c < 48 || c > 57) break;
    revision = revision * 10 + (c - 48);
  }
  const start = id + INCIDENT_ID.length;
  return `${frame.toString('latin1', start, start + 36)}:${revision}`;
}

interface Viewer {
  ws: WebSocket;
  /** incident_id:revision -> receipt time, for the phase under way. */
  frames: Map<string, number>;
  duplicates: number;
  closes: number;
}

function connectViewer(url: string): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const viewer: Viewer = { ws, frames: new Map(), duplicates: 0, closes: 0 };
    let welcomed = false;
    ws.on('message', (data) => {
      const at = now();
      const frame = data as Buffer;
      if (!welcomed) {
        if (isWelcomeFrame(frame)) {
          welcomed = true;
          resolve(viewer);
        }
        return;
      }
      const key = frameKey(frame);
      if (key === null) return;
      if (viewer.frames.has(key)) viewer.duplicates++;
      else viewer.frames.set(key, at);
    });
    ws.on('error', (err) => {
      if (!welcomed) reject(err);
    });
    ws.on('close', () => {
      viewer.closes++;
      if (!welcomed) reject(new Error('closed before the welcome frame'));
    });
  });
}

// ---- viewers: poll ---------------------------------------------------------------------

interface Poll {
  at: number;
  revision: number;
}

/** Every viewer polls every incident once a second (fixed rate, random phase) until stopped. */
function startPolling(base: string, tokens: string[], incidents: Incident[]) {
  let running = true;
  let requests = 0;
  let errors = 0;
  const answers = tokens.map(() => new Map<string, Poll[]>(incidents.map((i) => [i.id, []])));
  const loops = tokens.flatMap((token, v) =>
    incidents.map(async (incident) => {
      const list = answers[v]!.get(incident.id)!;
      let due = now() + Math.random() * POLL_INTERVAL_MS;
      while (running) {
        await sleep(Math.max(0, due - now()));
        if (!running) break;
        due += POLL_INTERVAL_MS;
        requests++;
        try {
          const res = await api(base, token, `/api/incidents/${incident.id}`);
          if (res.status === 200 && res.body.incident)
            list.push({ at: now(), revision: res.body.incident.revision });
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return {
    answers,
    counts: () => ({ requests, errors }),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

// ---- phases -----------------------------------------------------------------------------

interface PhaseResult {
  name: PhaseName;
  changes: Change[];
  seconds: number;
  /** push: frames of measured changes received / expected, duplicates, other frames. */
  frames?: { received: number; expected: number; duplicates: number; closes: number };
  /** poll: GET requests made, failed, and per second. */
  polls?: { requests: number; errors: number; perSecond: number };
  serverCores: number;
  machineCores: number;
}

interface Context {
  server: RunningServer;
  adminToken: string;
  viewerTokens: string[];
  /** One host per incident; every phase opens fresh incidents on them. */
  hosts: string[];
  wsUrl: string;
}

/** Fresh incidents for a phase (no notes yet), opened before anyone watches. */
async function openIncidents(ctx: Context, phase: PhaseName): Promise<Incident[]> {
  const incidents: Incident[] = [];
  for (const hostId of ctx.hosts) {
    const res = await api(ctx.server.base, ctx.adminToken, '/api/incidents', 'POST', {
      host_id: hostId,
      tripwire_type: 'FILE',
      severity: 'CRITICAL',
      rule_name: `etc-passwd-integrity-${phase}`,
    });
    if (res.status !== 201 || !res.body.incident)
      throw new Error(`opening an incident: ${res.status} ${JSON.stringify(res.body)}`);
    incidents.push({ id: res.body.incident.incident_id, state: 'OPEN', changes: 0 });
  }
  return incidents;
}

const allSeen = (changes: Change[]) =>
  changes.every((c) => c.revision < 0 || c.seenAt.every(Number.isFinite));

async function runPhase(name: PhaseName, ctx: Context): Promise<PhaseResult> {
  const [watch, mode] = name.split('-') as [Watch, Mode];
  const { server } = ctx;
  const incidents = await openIncidents(ctx, name);
  await sleep(300); // their created frames are out before any viewer connects
  let viewers: Viewer[] = [];
  let polling: ReturnType<typeof startPolling> | null = null;
  if (watch === 'push') {
    viewers = await Promise.all(ctx.viewerTokens.map((t) => connectViewer(`${ctx.wsUrl}${t}`)));
  } else {
    polling = startPolling(server.base, ctx.viewerTokens, incidents);
    await sleep(POLL_INTERVAL_MS + 200); // every poller under way
  }
  await sleep(300);
  const cpu0 = cpuSeconds(server.pid);
  const machine0 = machineTicks();
  const polls0 = polling?.counts();
  const t0 = now();

  const changes = await makeChanges(server.base, ctx.adminToken, incidents, mode, CHANGES);

  // Wait for every viewer to have every change (or the drain timeout), filling seenAt as we go.
  const fill = () => {
    for (const c of changes) {
      if (c.revision < 0) continue;
      for (let v = 0; v < VIEWERS; v++) {
        if (Number.isFinite(c.seenAt[v]!)) continue;
        if (watch === 'push') {
          const at = viewers[v]!.frames.get(`${c.incidentId}:${c.revision}`);
          if (at !== undefined) c.seenAt[v] = at;
        } else {
          // The first answer showing this revision or a later one (revisions only grow).
          const hit = polling!.answers[v]!.get(c.incidentId)!.find((p) => p.revision >= c.revision);
          if (hit) c.seenAt[v] = hit.at;
        }
      }
    }
  };
  const lastAnswer = Math.max(...changes.map((c) => c.answeredAt));
  for (fill(); !allSeen(changes) && now() < lastAnswer + DRAIN_MS; fill()) await sleep(50);
  const t1 = now();
  const cpu1 = cpuSeconds(server.pid);
  const machine1 = machineTicks();
  const seconds = (t1 - t0) / 1000;

  const result: PhaseResult = {
    name,
    changes,
    seconds,
    serverCores: (cpu1 - cpu0) / seconds,
    machineCores: ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * CPUS,
  };
  if (watch === 'push') {
    await sleep(200); // anything late or repeated still lands in the counts
    const wanted = new Set(
      changes.filter((c) => c.revision >= 0).map((c) => `${c.incidentId}:${c.revision}`),
    );
    let received = 0;
    for (const v of viewers) for (const key of v.frames.keys()) if (wanted.has(key)) received++;
    result.frames = {
      received,
      expected: wanted.size * VIEWERS,
      duplicates: viewers.reduce((n, v) => n + v.duplicates, 0),
      closes: viewers.reduce((n, v) => n + v.closes, 0),
    };
    for (const v of viewers) v.ws.terminate();
  } else {
    const polls1 = polling!.counts();
    await polling!.stop();
    result.polls = {
      requests: polls1.requests - polls0!.requests,
      errors: polls1.errors - polls0!.errors,
      perSecond: (polls1.requests - polls0!.requests) / seconds,
    };
  }
  return result;
}

// ---- report ------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const fmtMs = (ms: number) =>
  Number.isNaN(ms)
    ? 'n/a'
    : ms === Number.POSITIVE_INFINITY
      ? `> ${fmt(DRAIN_MS / 1000)} s`
      : ms >= 1000
        ? `${fmt(ms / 1000, 2)} s`
        : `${fmt(ms, 1)} ms`;

interface Figures {
  ok: number;
  response: LatencyHistogram;
  /** Per change: the slowest viewer's time. */
  everyone: LatencyHistogram;
  /** Per change and viewer. */
  each: LatencyHistogram;
  /** Per change: the slowest viewer's time after the PATCH response arrived. */
  afterResponse: LatencyHistogram;
  withinTarget: number;
  maxEveryoneMs: number;
  maxResponseMs: number;
}

function figures(r: PhaseResult): Figures {
  const f: Figures = {
    ok: 0,
    response: new LatencyHistogram(),
    everyone: new LatencyHistogram(),
    each: new LatencyHistogram(),
    afterResponse: new LatencyHistogram(),
    withinTarget: 0,
    maxEveryoneMs: 0,
    maxResponseMs: 0,
  };
  for (const c of r.changes) {
    if (c.revision < 0) continue;
    f.ok++;
    const responseMs = c.answeredAt - c.sentAt;
    f.response.record(responseMs * 1000);
    f.maxResponseMs = Math.max(f.maxResponseMs, responseMs);
    let slowest = 0;
    for (const at of c.seenAt) {
      const ms = at - c.sentAt;
      slowest = Math.max(slowest, ms);
      if (Number.isFinite(ms)) f.each.record(ms * 1000);
    }
    f.maxEveryoneMs = Math.max(f.maxEveryoneMs, slowest);
    if (Number.isFinite(slowest)) {
      f.everyone.record(slowest * 1000);
      f.afterResponse.record(Math.max(0, slowest - responseMs) * 1000);
    }
    if (slowest <= TARGET_MS) f.withinTarget++;
  }
  return f;
}

function printPair(mode: Mode, push: PhaseResult | undefined, poll: PhaseResult | undefined) {
  const cols = [push, poll].filter((r): r is PhaseResult => r !== undefined);
  if (!cols.length) return;
  const figs = new Map(cols.map((r) => [r, figures(r)]));
  const cell = (s: string) => s.padStart(22);
  const row = (label: string, value: (r: PhaseResult, f: Figures) => string) =>
    console.log(`  ${label.padEnd(46)}${cols.map((r) => cell(value(r, figs.get(r)!))).join('')}`);
  console.log(
    mode === 'seq'
      ? `\n${fmt(CHANGES)} sequential changes (one PATCH at a time, round-robin over ${INCIDENTS} incidents), ${VIEWERS} viewers`
      : `\n${fmt(CHANGES)} changes in a burst (${INCIDENTS} back-to-back chains at once, one per incident), ${VIEWERS} viewers`,
  );
  console.log(
    `  ${''.padEnd(46)}${cols.map((r) => cell(r.name.startsWith('push') ? 'push (WebSocket)' : 'poll 1/s (baseline)')).join('')}`,
  );
  const n = (f: Figures) => f.ok * VIEWERS;
  row('changes answered 200 / sent', (r, f) => `${fmt(f.ok)} / ${fmt(r.changes.length)}`);
  row('phase length (first PATCH to last view)', (r) => `${fmt(r.seconds, 2)} s`);
  row(
    'PATCH -> response p50 / p99',
    (_, f) => `${fmtMs(f.response.percentileMs(50))} / ${fmtMs(f.response.percentileMs(99))}`,
  );
  row('PATCH -> response max', (_, f) => fmtMs(f.maxResponseMs));
  for (const p of [50, 95, 99]) {
    row(`visible to every viewer p${p}`, (_, f) => fmtMs(f.everyone.percentileMs(p, f.ok)));
  }
  row('visible to every viewer max', (_, f) => fmtMs(f.maxEveryoneMs));
  row(
    `visible to every viewer within ${fmt(TARGET_MS / 1000)} s`,
    (_, f) => `${fmt((f.withinTarget / Math.max(1, f.ok)) * 100, 1)}%`,
  );
  row(
    '  per viewer p50 / p99',
    (_, f) => `${fmtMs(f.each.percentileMs(50, n(f)))} / ${fmtMs(f.each.percentileMs(99, n(f)))}`,
  );
  row(
    '  slowest viewer after the response p50 / p99',
    (_, f) =>
      `${fmtMs(f.afterResponse.percentileMs(50, f.ok))} / ${fmtMs(f.afterResponse.percentileMs(99, f.ok))}`,
  );
  row('frames received / expected', (r) =>
    r.frames ? `${fmt(r.frames.received)} / ${fmt(r.frames.expected)}` : 'n/a',
  );
  row('duplicate frames', (r) => (r.frames ? fmt(r.frames.duplicates) : 'n/a'));
  row('GET requests (per s, failed)', (r) =>
    r.polls
      ? `${fmt(r.polls.requests)} (${fmt(r.polls.perSecond)}/s, ${fmt(r.polls.errors)})`
      : 'n/a',
  );
  row('fan-out CPU busy (cores)', (r) => fmt(r.serverCores, 2));
  row(`whole machine CPU (of ${CPUS} cores)`, (r) => fmt(r.machineCores, 2));
  for (const r of cols) {
    if (r.frames?.closes)
      console.log(`  note (${r.name}): ${r.frames.closes} viewer sockets closed by the server`);
  }
}

// ---- set-up and clean-up ------------------------------------------------------------------

const cleanUp = () => cleanUpRun(RUN);

process.once('SIGINT', () => {
  console.log('\ninterrupted: cleaning up');
  // The fan-out first: requests still in flight would write the keys again after they are deleted.
  const exited = [...children].map((child) => new Promise((r) => child.once('exit', r)));
  for (const child of children) child.kill('SIGKILL');
  void Promise.all(exited)
    .then(cleanUp)
    .then((done) => console.log(`(${done})`))
    .finally(() => process.exit(130));
});

async function main() {
  const started = now();
  console.log(
    `TripWire incident benchmark: ${VIEWERS} viewers, ${fmt(CHANGES)} changes per phase over ` +
      `${INCIDENTS} incidents; phases: ${PHASES.join(', ')}`,
  );
  await ensureDatabaseExists(DATABASE_URL);
  await migrateDatabase({ databaseUrl: DATABASE_URL });
  const pool = createPool({ databaseUrl: DATABASE_URL, max: 2 });
  const publisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: PREFIX });
  let server: RunningServer | null = null;
  const results = new Map<PhaseName, PhaseResult>();
  try {
    server = await startServer(publisher);
    const auth = createOperatorAuth(JWT_SECRET);
    const adminToken = await auth.issue('bench-admin', 'admin');
    const viewerTokens = await Promise.all(
      Array.from({ length: VIEWERS }, (_, i) => auth.issue(`bench-viewer-${i}`, 'viewer')),
    );
    const hosts: string[] = [];
    for (let i = 0; i < INCIDENTS; i++) {
      const host = await upsertHost(pool, {
        hostname: `bench-incidents-${RUN.runId}-${i}`,
        platform: 'linux',
        agentVersion: 'bench',
        agentTokenHash: randomBytes(32),
      });
      hosts.push(host.hostId);
    }
    const ctx: Context = {
      server,
      adminToken,
      viewerTokens,
      hosts,
      wsUrl: `ws://127.0.0.1:${new URL(server.base).port}/ws/alerts?kind=incident&access_token=`,
    };
    console.log(`(set-up: ${fmt((now() - started) / 1000, 1)} s)`);
    for (const phase of PHASES) {
      process.stderr.write(`${phase}…\n`);
      results.set(phase, await runPhase(phase, ctx));
    }
    printPair('seq', results.get('push-seq'), results.get('poll-seq'));
    printPair('burst', results.get('push-burst'), results.get('poll-burst'));
    if (Object.keys(patchErrors).length) {
      console.log(`\n  PATCH failures: ${JSON.stringify(patchErrors)}`);
    }
    if (server.output.length) {
      console.log(`  fan-out logged ${server.output.length} lines; first: ${server.output[0]}`);
    }
  } finally {
    if (server) await stopChild(server.child);
    publisher.close();
    publisherRedis.disconnect();
    await pool.end();
    console.log(`\n(${await cleanUp()}; whole run ${fmt((now() - started) / 1000, 1)} s)`);
  }

  console.log("\nTarget: another operator's change visible within 1 s (push):");
  for (const name of ['push-seq', 'push-burst'] as const) {
    const r = results.get(name);
    if (!r) continue;
    const f = figures(r);
    const lossless =
      r.frames !== undefined &&
      r.frames.received === r.frames.expected &&
      r.frames.duplicates === 0 &&
      f.ok === r.changes.length;
    console.log(
      `  ${name}: ${f.withinTarget === f.ok && lossless ? 'met' : 'NOT met'} ` +
        `(${fmt((f.withinTarget / Math.max(1, f.ok)) * 100, 1)}% within 1 s, max ${fmtMs(f.maxEveryoneMs)}, ` +
        `${r.frames ? `${fmt(r.frames.received)} of ${fmt(r.frames.expected)} frames, ${fmt(r.frames.duplicates)} duplicates` : ''})`,
    );
  }
  process.exit(0);
}

await main();
