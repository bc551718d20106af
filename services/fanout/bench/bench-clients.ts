/**
 * One client process of the fan-out benchmark (forked by fanout-bench.ts; see
 * there for what is measured). It holds `count` WebSocket connections to
 * /ws/alerts, made with the `ws` package, and for every alert frame reads the
 * publisher's clock out of `event_detail.sent_at_us` to record the latency
 * publish -> receipt. Per frame it does as little as it can (two byte checks,
 * one backwards search, no JSON.parse), because on a 2-core machine every
 * cycle it spends is taken from the server being measured.
 *
 * Conversation with the parent, over the IPC channel:
 *   parent: connect {url, count, localAddress?, topics?}
 *                                  -> worker: connected {open, failed}
 *   parent: window {fromUs, toUs}     (which alerts are measured, by publish time; a new
 *                                     window on the same connections starts every count over)
 *   parent: finish {expectedPerClient, timeoutMs}
 *                                  -> worker: report, once every open client has
 *                                     every measured alert, or at the timeout
 */
import WebSocket from 'ws';
import { isAlertFrame, isErrorFrame, isWelcomeFrame, nowUs, sentAtUs } from './alert-frame.js';
import { LatencyHistogram, type SparseHistogram } from './latency-histogram.js';

/** What a worker's clients connect with. */
export interface ClientOptions {
  url: string;
  count: number;
  /** The loopback address the clients connect from (one has only ~28,000 ports to one server port). */
  localAddress?: string;
  /**
   * Distinct filters: client k of the whole run (firstClient + its number here) is on topic
   * k mod count and adds `host_id=<alertHost>,<topic host>` (every socket still gets every
   * alert), or with alertHost null `host_id=<topic host>` alone (it gets only that host's).
   */
  topics?: { count: number; alertHost: string | null; firstClient: number };
}

/** A syntactically valid host id standing for topic k. */
export const topicHost = (k: number) =>
  `00000000-0000-4000-8000-${k.toString(16).padStart(12, '0')}`;

export type WorkerCommand =
  | ({ type: 'connect' } & ClientOptions)
  | { type: 'window'; fromUs: number; toUs: number }
  | {
      type: 'finish';
      expectedPerClient: number;
      timeoutMs: number;
      /** Only the clients on this topic are expected to receive the window's alerts. */
      onlyTopic?: number;
    };

export interface ConnectedMessage {
  type: 'connected';
  open: number;
  failed: number;
  firstError: string | null;
}

export interface ReportMessage {
  type: 'report';
  /** Alert frames whose publish time lies in the window (what latency and completeness are about). */
  windowFrames: number;
  /** Every alert frame received at or after the window opened (what the server's CPU time paid for). */
  framesSinceWindowOpened: number;
  /** Receipt time of the last window frame, µs since the epoch. */
  lastReceiptUs: number;
  histogram: SparseHistogram;
  /** Close codes seen from the server, with counts. */
  closes: Record<string, number>;
  /** `{"type":"error"}` frames by code (e.g. stream_gap). */
  errorFrames: Record<string, number>;
  openAtEnd: number;
  /** False when the timeout struck before every open client had every window alert. */
  complete: boolean;
}

export type WorkerMessage = ConnectedMessage | ReportMessage;

const CONNECT_CONCURRENCY = 64;

const send = (message: WorkerMessage) => process.send?.(message);

/** Welcomed connections by client number. */
const sockets = new Map<number, WebSocket>();
const received: number[] = [];
/** Each client's topic (see ClientOptions.topics), when it has one. */
const topicOf: number[] = [];
let onlyTopic: number | undefined;
const expectedOf = (client: number) =>
  onlyTopic === undefined || topicOf[client] === onlyTopic ? expected : 0;
let histogram = new LatencyHistogram();
const closes: Record<string, number> = {};
const errorFrames: Record<string, number> = {};
let windowFrom = Number.POSITIVE_INFINITY;
let windowTo = Number.NEGATIVE_INFINITY;
let windowFrames = 0;
let framesSinceWindowOpened = 0;
let lastReceiptUs = 0;
let expected = Number.POSITIVE_INFINITY;
/** Open clients still short of `expected` window frames (counted once finish arrives). */
let waitingFor = Number.POSITIVE_INFINITY;
let reported = false;
let finishTimer: NodeJS.Timeout | undefined;

function onFrame(client: number, data: Buffer): void {
  if (isAlertFrame(data)) {
    const now = nowUs();
    if (now >= windowFrom) framesSinceWindowOpened++;
    const sentUs = sentAtUs(data);
    if (sentUs < windowFrom || sentUs >= windowTo) return;
    windowFrames++;
    histogram.record(now - sentUs);
    if (now > lastReceiptUs) lastReceiptUs = now;
    if (++received[client]! === expectedOf(client) && --waitingFor === 0) report(true);
  } else if (isErrorFrame(data)) {
    const code = String((JSON.parse(data.toString()) as { code?: unknown }).code);
    errorFrames[code] = (errorFrames[code] ?? 0) + 1;
  }
}

/** Opens one connection; resolves once the server's welcome frame has arrived. */
function connectOne(options: ClientOptions, client: number): Promise<void> {
  const { topics } = options;
  let url = options.url;
  if (topics) {
    topicOf[client] = (topics.firstClient + client) % topics.count;
    const own = topicHost(topicOf[client]!);
    url += `&host_id=${topics.alertHost === null ? own : `${topics.alertHost},${own}`}`;
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: 30_000,
      localAddress: options.localAddress,
    });
    let welcomed = false;
    received[client] = 0;
    ws.on('message', (data) => {
      const frame = data as Buffer;
      if (!welcomed && isWelcomeFrame(frame)) {
        welcomed = true;
        sockets.set(client, ws);
        resolve();
        return;
      }
      onFrame(client, frame);
    });
    ws.on('error', (err) => {
      if (!welcomed) reject(err);
    });
    ws.on('close', (code) => {
      closes[code] = (closes[code] ?? 0) + 1;
      if (!welcomed) return reject(new Error(`closed with ${code} before the welcome frame`));
      if (received[client]! < expectedOf(client) && --waitingFor === 0) report(true);
    });
  });
}

async function connect(options: ClientOptions): Promise<void> {
  const { count } = options;
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const lane = async () => {
    while (next < count) {
      const client = next++;
      try {
        await connectOne(options, client);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, lane));
  send({ type: 'connected', open: sockets.size, failed, firstError });
}

function report(complete: boolean): void {
  if (reported) return;
  reported = true;
  send({
    type: 'report',
    windowFrames,
    framesSinceWindowOpened,
    lastReceiptUs,
    histogram: histogram.toSparse(),
    closes,
    errorFrames,
    openAtEnd: [...sockets.values()].filter((ws) => ws.readyState === WebSocket.OPEN).length,
    complete,
  });
}

/** A new measured window on the same connections: what the last one counted starts over. */
function openWindow(fromUs: number, toUs: number): void {
  clearTimeout(finishTimer);
  windowFrom = fromUs;
  windowTo = toUs;
  windowFrames = 0;
  framesSinceWindowOpened = 0;
  lastReceiptUs = 0;
  histogram = new LatencyHistogram();
  for (const client of sockets.keys()) received[client] = 0;
  expected = Number.POSITIVE_INFINITY;
  waitingFor = Number.POSITIVE_INFINITY;
  reported = false;
}

function finish(expectedPerClient: number, timeoutMs: number, topic?: number): void {
  expected = expectedPerClient;
  onlyTopic = topic;
  waitingFor = 0;
  for (const [client, ws] of sockets) {
    if (ws.readyState === WebSocket.OPEN && received[client]! < expectedOf(client)) waitingFor++;
  }
  if (waitingFor === 0) report(true);
  else finishTimer = setTimeout(() => report(false), timeoutMs);
}

process.on('message', (command: WorkerCommand) => {
  if (command.type === 'connect') void connect(command);
  else if (command.type === 'window') openWindow(command.fromUs, command.toUs);
  else finish(command.expectedPerClient, command.timeoutMs, command.onlyTopic);
});
// The parent went away: nothing left to report to.
process.on('disconnect', () => process.exit(0));
