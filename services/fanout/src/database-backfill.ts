import { setTimeout as sleep } from 'node:timers/promises';
import { type HostEventData, parsePosition } from '@tripwire/bus';
import {
  type AlertKeyset,
  type BackfillAlert,
  databaseNow,
  hostsPage,
  incidentMessage,
  incidentsChangedPage,
  type Queryable,
  type RowSelector,
  type SeenThrough,
  storedAlertsPage,
} from '@tripwire/storage';
import type { AlertEventData, Severity, TripwireType } from '@tripwire/wire';
import { backfillPosition } from './backfill-cursor.js';
import { RESUME_MARKS_POLL_MAX_MS, RESUME_MARKS_POLL_MS, RESUME_MARKS_WAIT_MS } from './limits.js';
import type { SubscriptionFilter } from './subscription-filter.js';

/** What a resume served from PostgreSQL sends, decided when it starts (resume.ts). */
export interface BackfillPlan {
  /** The resume's `since`, the stream position (a backfill frame's suffix split off). */
  since: string;
  /**
   * What the browser resumed from, suffix included: the snapshot frames carry it as their
   * position, so a browser cut off before the first alert resumes where it was, not from
   * `since` (a resume from a backfill frame would otherwise start its backfill over).
   */
  resumedFrom: string;
  /** Where an earlier backfill from the same `since` got to (its frames' positions say): go on after it. */
  after: AlertKeyset | null;
  /** received_at lower bound, in ms: since's time minus the overlap margin. */
  fromMs: number;
  /**
   * Alert ids the browser had already (window entries at or before `since`), when the node knows
   * them. Beyond these, the alerts the ledger records at or before `since` are left out.
   */
  knownIds: ReadonlySet<string>;
  /**
   * Ids sent whose received_at is at or after this (ms) are remembered: the window may replay
   * them after the hand-over (published after the window's latest entry at the start), and must
   * skip them. 0: remember every id (the window was empty).
   */
  rememberFromMs: number;
  /** The window entry the window replay takes over after (null: from the window's first). */
  handOver: string | null;
  /** WS_BACKFILL_OVERLAP_MS: the longest a commit takes to be published. */
  overlapMs: number;
  /** The window's alerts appended at or after `fromMs`: id → whether after `handOver`. */
  heldAfter: (fromMs: number) => Map<string, boolean>;
  subscriptions: readonly SubscriptionFilter[];
}

export interface BackfillLimits {
  /** Rows per page (WS_REPLAY_SLICE_FRAMES): at most one page per socket is held in memory. */
  pageRows: number;
  /** WS_BACKFILL_MAX_ALERTS: a resume needing more stops there, and the browser is told to reload. */
  maxAlerts: number;
}

type Stage = 'hosts' | 'incidents' | 'alerts' | 'done';

/**
 * One resume served from PostgreSQL, a page at a time: every host's current state and every
 * incident changed since `since`'s time (both marked `"snapshot":true`), then every alert
 * stored since then that the socket's subscriptions let through, oldest first (received_at,
 * alert_id). Its upper bound is the database's clock when the alerts start: whatever commits
 * later is published later, after the window's hand-over point, and the window sends it.
 */
export class DatabaseBackfill {
  /** Alert ids sent at or after plan.rememberFromMs: the window replay skips them. */
  readonly sentIds = new Set<string>();
  /** The database's clock when the alerts stage began (ms); null before. */
  untilMs: number | null = null;
  alertsSent = 0;
  /** Rows left to the window replay (leftToWindow). */
  leftToWindowCount = 0;
  limitReached = false;
  private stage: Stage = 'hosts';
  private afterHost: string | null = null;
  private afterIncident: string | null = null;
  private afterAlert: AlertKeyset | null = null;
  private readonly alertSelectors: RowSelector[];
  private readonly incidentSelectors: RowSelector[];
  private readonly positionJson: string;
  /** The alerts the ledger records at or before `since` are left out; null: a position without epoch. */
  private readonly seen: SeenThrough | null;
  /** since's time, in µs. */
  private readonly sinceUs: number;
  /** performance.now() after which unmarked rows are no longer waited for; null before the first wait. */
  private marksDeadline: number | null = null;
  /** The same for unmarked rows near the hand-over point that a registered ingest will publish. */
  private publishDeadline: number | null = null;
  /** The marks wait's next pause between reads of the same page. */
  private pollMs = RESUME_MARKS_POLL_MS;

  /** Rows received at or after this (ms) have their ids remembered in sentIds. */
  readonly rememberFromMs: number;

  constructor(
    private readonly db: Queryable,
    private readonly plan: BackfillPlan,
    private readonly limits: BackfillLimits,
  ) {
    this.alertSelectors = selectorsFor(plan.subscriptions, 'alert');
    this.incidentSelectors = selectorsFor(plan.subscriptions, 'incident');
    this.positionJson = JSON.stringify(plan.resumedFrom);
    this.afterAlert = plan.after;
    this.rememberFromMs = plan.rememberFromMs;
    const { epoch, ms, offset } = parsePosition(plan.since);
    this.sinceUs = Number(ms) * 1000;
    // fromMs is since's time minus the overlap margin, which also bounds the clock skew between
    // PostgreSQL and Redis: a row received later than since's time plus the margin was
    // published after `since`, so it need not be looked up.
    const lookUpBeforeUs = this.sinceUs + (this.sinceUs - plan.fromMs * 1000);
    this.seen = epoch === null ? null : { epoch, offset, lookUpBeforeUs };
  }

  get done(): boolean {
    return this.stage === 'done';
  }

  /**
   * The next page's frames, encoded; an empty page once `done`, or once `wanted` says the
   * socket is gone (a marks wait stops there). Rejects when a query fails.
   */
  async nextPage(
    wanted: () => boolean = () => true,
  ): Promise<{ frames: string[]; kind: 'host' | 'incident' | 'alert' }> {
    while (this.stage !== 'done' && wanted()) {
      const kind =
        this.stage === 'hosts' ? 'host' : this.stage === 'incidents' ? 'incident' : 'alert';
      const frames =
        this.stage === 'hosts'
          ? await this.hostFrames()
          : this.stage === 'incidents'
            ? await this.incidentFrames()
            : await this.alertFrames();
      if (frames.length) return { frames, kind };
    }
    return { frames: [], kind: 'alert' };
  }

  private async hostFrames(): Promise<string[]> {
    const hosts = await hostsPage(this.db, this.afterHost, this.limits.pageRows);
    if (hosts.length < this.limits.pageRows) this.stage = 'incidents';
    this.afterHost = hosts.at(-1)?.hostId ?? this.afterHost;
    return hosts.map((h) => {
      const data: HostEventData = {
        host_id: h.hostId,
        hostname: h.hostname,
        status: h.status,
        platform: h.platform,
        agent_version: h.agentVersion,
        last_seen: h.lastSeen?.toISOString() ?? null,
        version: h.statusVersion,
      };
      return this.frame('host', data, true);
    });
  }

  private async incidentFrames(): Promise<string[]> {
    if (this.incidentSelectors.length === 0) {
      this.stage = 'alerts';
      return [];
    }
    const incidents = await incidentsChangedPage(this.db, {
      since: new Date(this.plan.fromMs),
      afterId: this.afterIncident,
      selectors: this.incidentSelectors,
      limit: this.limits.pageRows,
    });
    if (incidents.length < this.limits.pageRows) this.stage = 'alerts';
    this.afterIncident = incidents.at(-1)?.incidentId ?? this.afterIncident;
    return incidents.map((i) => this.frame('incident', incidentMessage(i, false).data, true));
  }

  private async alertFrames(): Promise<string[]> {
    if (this.alertSelectors.length === 0) {
      this.stage = 'done';
      return [];
    }
    this.untilMs ??= (await databaseNow(this.db)).getTime();
    const leaveFromMs = this.leaveFromMs(this.untilMs);
    const room = this.limits.maxAlerts - this.alertsSent;
    const rows = await storedAlertsPage(this.db, {
      fromUs: this.plan.fromMs * 1000,
      untilUs: this.untilMs * 1000,
      after: this.afterAlert,
      selectors: this.alertSelectors,
      // One row more than the limit leaves room for: it tells "more than the limit" from "exactly".
      limit: Math.min(this.limits.pageRows, room + 1),
      seen: this.seen,
      lookUpFromUs: leaveFromMs * 1000,
    });
    const held = this.plan.heldAfter(leaveFromMs);
    if (this.awaitingMarks(rows, leaveFromMs, held)) {
      // The same page again (the keyset has not moved), once the marks had a moment to land.
      await sleep(this.pollMs);
      // Marks normally land within milliseconds; a wait that lasts (up to the overlap margin for
      // a registered ingest's rows) reads the page less and less often, so a fan-out's worth of
      // resumes does not poll PostgreSQL hot.
      this.pollMs = Math.min(this.pollMs * 2, RESUME_MARKS_POLL_MAX_MS);
      return [];
    }
    this.pollMs = RESUME_MARKS_POLL_MS;
    if (rows.length > room) {
      this.limitReached = true;
      rows.length = room;
    }
    if (this.limitReached || rows.length < this.limits.pageRows) this.stage = 'done';
    const last = rows.at(-1);
    if (last) {
      const { receivedUs, occurredAtUs: occurredUs, alertId } = last;
      this.afterAlert = { receivedUs, occurredUs, alertId };
    }
    const frames: string[] = [];
    for (const row of rows) {
      if (this.plan.knownIds.has(row.alertId)) continue;
      if (this.leftToWindow(row, held)) {
        this.leftToWindowCount++;
        continue;
      }
      if (row.receivedAt.getTime() >= this.plan.rememberFromMs) this.sentIds.add(row.alertId);
      const keyset = {
        receivedUs: row.receivedUs,
        occurredUs: row.occurredAtUs,
        alertId: row.alertId,
      };
      const position = backfillPosition(this.plan.since, keyset, this.plan.handOver);
      frames.push(this.frame('alert', alertData(row), false, JSON.stringify(position)));
    }
    this.alertsSent += rows.length;
    return frames;
  }

  /**
   * Rows received this late may reach the bus after the hand-over point (a commit is published
   * within the overlap margin): from the window's own hand-over point, or the margin before the
   * database's clock when the window was empty.
   */
  private leaveFromMs(untilMs: number): number {
    return this.plan.handOver === null ? untilMs - this.plan.overlapMs : this.plan.rememberFromMs;
  }

  /**
   * Whether the window replay, not PostgreSQL, sends this row: the bus carries it after the
   * hand-over point (the window holds it there, or the ledger records it there; an unmarked row
   * received within the margin is waited for, see awaitingMarks). It reaches the socket through
   * the window or live, at its own position. Sent from here and then skipped by the window, it
   * would leave the browser's position before the bus copy, and a later resume from that
   * position would send it again.
   */
  private leftToWindow(row: BackfillAlert, held: Map<string, boolean>): boolean {
    const after = held.get(row.alertId);
    if (after !== undefined) return after;
    // Not marked even after the marks wait: perhaps never to be published (its ingest's backlog
    // overflowed, a `gap` stands for it), so sent by time as before; the window skips its copy.
    // Marked, however long ago it was received: an alert that waited in a publish backlog is
    // published after the hand-over point whatever its receive time says.
    if (row.mark === null) return false;
    const handOver = this.plan.handOver === null ? null : parsePosition(this.plan.handOver);
    return (
      handOver !== null &&
      row.mark.epoch === handOver.epoch &&
      BigInt(row.mark.offset) > handOver.offset
    );
  }

  /**
   * A row stored before since's time that the ledger does not mark published yet may be one the
   * browser had, published but not yet marked: its ingest marks it milliseconds after Redis
   * confirmed the append. So the page is read again shortly, for at most RESUME_MARKS_WAIT_MS
   * per resume; then unmarked rows are sent by time (an ingest that died before marking, an
   * alert still waiting in a publish backlog: the browser drops a repeated id). The same for a
   * row received within the margin of the hand-over point, whose mark says which side of it the
   * bus carries the row on (leftToWindow).
   */
  private awaitingMarks(
    rows: readonly BackfillAlert[],
    leaveFromMs: number,
    held: Map<string, boolean>,
  ): boolean {
    const now = performance.now();
    const inZone = (r: BackfillAlert) =>
      r.unmarked && r.receivedAt.getTime() >= leaveFromMs && !held.has(r.alertId);
    // Stored by a registered ingest instance: its publish (or the sweep) will mark it, within
    // the overlap margin by the margin's own definition. Waiting for that mark decides which
    // side of the hand-over point the bus carries it on; sent by time instead, its later bus
    // copy is skipped on this socket only, and a browser that resumes again gets it twice.
    if (rows.some((r) => inZone(r) && r.pending)) {
      this.publishDeadline ??= now + this.plan.overlapMs;
      if (now < this.publishDeadline) return true;
    }
    const waited = (r: BackfillAlert) =>
      (r.unmarked && this.seen !== null && r.receivedUs <= this.sinceUs) || inZone(r);
    if (!rows.some(waited)) return false;
    this.marksDeadline ??= now + RESUME_MARKS_WAIT_MS;
    return now < this.marksDeadline;
  }

  private frame(type: string, data: unknown, snapshot: boolean, positionJson = this.positionJson) {
    return `{"type":"${type}","position":${positionJson},${snapshot ? '"snapshot":true,' : ''}"data":${JSON.stringify(data)}}`;
  }
}

/** An alert row as the live frame shows it (alert-intake.ts builds the same from the batch). */
function alertData(row: BackfillAlert): AlertEventData {
  return {
    alert_id: row.alertId,
    host_id: row.hostId,
    hostname: row.hostname,
    timestamp: new Date(Math.floor(row.occurredAtUs / 1000)).toISOString(),
    timestamp_us: row.occurredAtUs,
    received_at: row.receivedAt.toISOString(),
    tripwire_type: row.tripwireType,
    rule_name: row.ruleName,
    severity: row.severity,
    event_detail: row.eventDetail,
    ...(row.suppressionId ? { suppression_id: row.suppressionId } : {}),
  };
}

/** The socket's subscriptions that take this kind, as storage selectors (none: skip the kind). */
function selectorsFor(
  subscriptions: readonly SubscriptionFilter[],
  kind: 'alert' | 'incident',
): RowSelector[] {
  return subscriptions
    .filter((f) => f.kinds.length === 0 || f.kinds.includes(kind))
    .map((f) => ({
      severities: f.severities as Severity[],
      tripwireTypes: f.tripwire_types as TripwireType[],
      hostIds: f.host_ids,
      includeSuppressed: f.include_suppressed,
    }));
}
