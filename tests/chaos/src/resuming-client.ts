// A WebSocket client (the `ws` package) as a careful browser behaves: it keeps the last
// position it saw, and whenever its socket ends (its own choice, a node going down, a slow
// consumer close, a stream_gap or degraded notice) it connects again, to either fan-out, with
// `since=<that position>`. It records every alert it receives and how each resume was served.
import { comparePositions } from '@tripwire/bus';
import WebSocket from 'ws';
import { type ClientFilter, filterQuery } from './client-filters.js';
import type { Random } from './seeded-random.js';

export interface ReceivedAlert {
  host_id: string;
  position: string;
}

export interface ClientRecord {
  /** First alert frame of each alert_id. */
  received: Map<string, ReceivedAlert>;
  /** alert_id → times received beyond the first. */
  duplicates: Map<string, number>;
  /** Alerts whose position was not after the previous one of the same host. */
  outOfOrder: number;
  /** Positions that could not be compared (a format this run does not know). */
  unorderable: number;
  /** Alert frames without a position (nothing to order them by). */
  unpositioned: number;
  incidents: number;
  /** `status/source/reason` of each welcome.resume → count. */
  resumes: Map<string, number>;
  /** stream_gap / degraded / resume_unavailable notices → count. */
  notices: Map<string, number>;
  connects: number;
  /** When the first welcome arrived (before any alert was generated). */
  firstWelcomeAt: number | null;
  /** Alerts thrown away on purpose (the checker's self-test). */
  injectedDrops: number;
  /**
   * Alert frames that arrived on a socket after its stream_gap or degraded notice (already
   * buffered when the client cut it): ignored, since the client resumes from the position
   * before the notice.
   */
  afterNotice: number;
  /** Duplicates by how they came (see duplicateKind) → count: points at the cause. */
  duplicateKinds: Map<string, number>;
  /** The first few duplicates: the alert, where each copy came and the resume's `since`. */
  duplicateSamples: DuplicateSample[];
}

export interface DuplicateSample {
  alertId: string;
  first: string;
  again: string;
  since: string;
}

/** Duplicates described one by one in the report (per client). */
const DUPLICATE_SAMPLES = 3;

const RECONNECT_DELAY_MS: [number, number] = [50, 800];

export class ResumingClient {
  readonly record: ClientRecord = {
    received: new Map(),
    duplicates: new Map(),
    outOfOrder: 0,
    unorderable: 0,
    unpositioned: 0,
    incidents: 0,
    resumes: new Map(),
    notices: new Map(),
    connects: 0,
    firstWelcomeAt: null,
    injectedDrops: 0,
    afterNotice: 0,
    duplicateKinds: new Map(),
    duplicateSamples: [],
  };
  private socket: WebSocket | null = null;
  private lastPosition: string | null = null;
  /** The `since` of the current connection (null: none). */
  private resumedFrom: string | null = null;
  /** welcome.resume.source of the current connection ('-': none). */
  private resumeSource = '-';
  /** A socket cut after a notice: frames still buffered from it are not taken. */
  private abandoned: WebSocket | null = null;
  private readonly lastByHost = new Map<string, string>();
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Set while a welcome is awaited, so `connected` means "greeted". */
  private greeted = false;

  constructor(
    readonly name: string,
    readonly filter: ClientFilter,
    private readonly fanoutUrls: () => string[],
    private readonly token: string,
    private readonly random: Random,
    private dropBudget = 0,
  ) {}

  /** Whether it has a position to resume from (so leaving cannot make it miss anything). */
  get hasPosition() {
    return this.lastPosition !== null;
  }

  get connected() {
    return this.greeted && this.socket?.readyState === WebSocket.OPEN;
  }

  start() {
    this.connect();
  }

  /** Drops the connection now (abruptly or politely, at random); it resumes shortly after. */
  bounce() {
    if (!this.socket) return;
    if (this.random.next() < 0.5) this.socket.terminate();
    else this.socket.close(1000, 'bye');
  }

  stop() {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.terminate();
  }

  private connect() {
    this.reconnectTimer = null;
    if (this.stopped) return;
    const query = filterQuery(this.filter);
    query.set('access_token', this.token);
    if (this.lastPosition) query.set('since', this.lastPosition);
    this.resumedFrom = this.lastPosition;
    const base = this.random.pick(this.fanoutUrls());
    const socket = new WebSocket(`${base}?${query}`, { perMessageDeflate: false });
    this.socket = socket;
    this.greeted = false;
    socket.on('message', (data) => this.onFrame(socket, String(data)));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.greeted = false;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect() {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.random.int(...RECONNECT_DELAY_MS);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onFrame(socket: WebSocket, text: string) {
    const frame = JSON.parse(text) as {
      type: string;
      position?: string;
      code?: string;
      resume?: { status?: string; source?: string; reason?: string };
      data?: { alert_id?: string; host_id?: string };
    };
    if (socket === this.abandoned) {
      if (frame.type === 'alert') this.record.afterNotice++;
      return;
    }
    if (frame.type === 'welcome') {
      // The welcome's position is where this socket's stream begins: a client that leaves
      // before any other frame must resume from it, or it would miss what came meanwhile.
      this.lastPosition ??= frame.position ?? null;
      return this.onWelcome(frame.resume);
    }
    if (frame.type === 'alert')
      this.onAlert(frame.position, frame.data!.alert_id!, frame.data!.host_id!);
    else if (frame.type === 'incident') this.record.incidents++;
    if (frame.position) this.lastPosition = frame.position;
    const notice = frame.type === 'error' ? frame.code : frame.type;
    if (notice === 'stream_gap' || notice === 'degraded' || notice === 'resume_unavailable') {
      bump(this.record.notices, notice);
    }
    // A gap or a degraded node: resume from the last position, which can be served whole.
    // ws still emits the frames that arrived with the notice after terminate(): without the
    // mark they would move the position past the gap.
    if (notice === 'stream_gap' || notice === 'degraded') {
      this.abandoned = socket;
      socket.terminate();
    }
  }

  private onWelcome(resume: { status?: string; source?: string; reason?: string } | undefined) {
    this.greeted = true;
    this.resumeSource = resume?.source ?? '-';
    this.record.connects++;
    this.record.firstWelcomeAt ??= Date.now();
    if (resume) {
      bump(
        this.record.resumes,
        [resume.status, resume.source ?? '-', resume.reason ?? '-'].join('/'),
      );
    }
  }

  /**
   * "<resume source> <frame> first copy in <since's | another> epoch": a database frame carries
   * the resume's `since` as its position, so its epoch says whether the ledger could have
   * recognised the alert as one the client had.
   */
  duplicateKind(position: string | undefined, firstPosition: string): string {
    const fromDatabase = position !== undefined && fromBackfill(position);
    const frame = fromDatabase ? 'database frame' : 'window/live frame';
    const since = this.resumedFrom ?? '';
    const epoch = epochOf(firstPosition) === epochOf(since) ? "since's" : 'another';
    return `${this.resumeSource} resume, ${frame}, first copy in ${epoch} epoch`;
  }

  private onAlert(position: string | undefined, alertId: string, hostId: string) {
    const r = this.record;
    const first = r.received.get(alertId);
    if (first) {
      bump(r.duplicates, alertId);
      bump(r.duplicateKinds, this.duplicateKind(position, first.position));
      if (r.duplicateSamples.length < DUPLICATE_SAMPLES) {
        const since = this.resumedFrom ?? '-';
        r.duplicateSamples.push({ alertId, first: first.position, again: position ?? '-', since });
      }
      return;
    }
    if (this.dropBudget > 0) {
      this.dropBudget--;
      r.injectedDrops++;
      return;
    }
    if (position === undefined) {
      r.unpositioned++;
      r.received.set(alertId, { host_id: hostId, position: '' });
      return;
    }
    const previous = this.lastByHost.get(hostId);
    if (previous !== undefined) {
      try {
        const order = comparePositions(streamPart(position), streamPart(previous));
        // A resume served from PostgreSQL gives every alert it sends the resume's `since` (plus
        // how far its backfill got) as its position (docs/fanout.md): there, an equal stream
        // position is not a step back.
        if (order < 0 || (order === 0 && !fromBackfill(position))) r.outOfOrder++;
      } catch {
        r.unorderable++;
      }
    }
    this.lastByHost.set(hostId, position);
    r.received.set(alertId, { host_id: hostId, position });
  }
}

const epochOf = (position: string) => streamPart(position).split(':').at(-2) ?? '';
/** A backfilled frame's position is `<since>~<keyset>` (services/fanout/src/backfill-cursor.ts). */
const streamPart = (position: string) => position.split('~')[0]!;
const fromBackfill = (position: string) => position.includes('~');

function bump<K>(map: Map<K, number>, key: K) {
  map.set(key, (map.get(key) ?? 0) + 1);
}
