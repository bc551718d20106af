import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FileHandle, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@tripwire/logger';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import type { SeverityName, TripwireTypeName } from './agent-types.js';
import { createTempFile, fsyncDirectory, openNoFollow } from './atomic-file.js';
import { clearLegacyLockFile } from './legacy-lock-file.js';
import { acquireLockFile, type LockFile } from './lock-file.js';
import {
  encodeRecord,
  OUTBOX_MAGIC,
  type OutboxAlert,
  type OutboxRecord,
  scanRecords,
} from './outbox-records.js';

export type { OutboxAlert } from './outbox-records.js';

/** The rule name of the alert that reports alerts dropped on overflow. */
export const OVERFLOW_RULE_NAME = 'tripwire-agent.outbox-overflow';
/** Room kept for the overflow alert itself when shedding. */
const OVERFLOW_RESERVE_BYTES = 1024;
/** Dropped first to last: the least severe first. */
const SHED_ORDER: readonly SeverityName[] = SEVERITIES;

export interface OutboxOptions {
  /**
   * The log file. Its folder must exist and be writable by this user only; `<path>.lockdir` (the
   * lock) and `<path>.compact` are used beside it.
   */
  path: string;
  /** Cap on the bytes of the alerts held (as on disk). Beyond it the least severe, oldest are dropped. Default 64 MiB. */
  maxBytes?: number;
  /** Compact once the file is larger than this and more than half of it is dead. Default 1 MiB. */
  compactMinBytes?: number;
  log?: Logger;
  /** The lock of a writer that stopped refreshing it for this long is taken over. Default 10 s. */
  lockStaleMs?: number;
  /** Another process took the lock over; every later append fails. Stop and start again. */
  onLockLost?: (err: Error) => void;
  /**
   * Opens the existing log file to read and write (default: O_RDWR with O_NOFOLLOW). A seam for
   * tests that wrap the handle to watch the order of writes, datasyncs and acknowledgements.
   */
  openLog?: (path: string) => Promise<FileHandle>;
}

/** What the overflow alert's detail says (snake_case, as sent). */
export interface OverflowDetail {
  dropped: number;
  by_severity: Record<SeverityName, number>;
  by_type: Record<TripwireTypeName, number>;
  oldest_dropped_at: string;
  newest_dropped_at: string;
  outbox_max_bytes: number;
}

interface Entry {
  alert: OutboxAlert;
  /** Record bytes on disk. */
  bytes: number;
  /** Written and fsynced. */
  durable: boolean;
  /** Handed to the stream since the last requeue(). */
  sent: boolean;
  removed: boolean;
}

interface PendingWrite {
  buf: Buffer;
  entry?: Entry;
  /** Run once the record is durable, before the writer goes on (replace() swaps versions here). */
  onDurable?: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A FIFO that stays O(1) per operation (Array.shift is O(n)). Entries leave the outbox from the
 * middle (acks, rejections, drops), so each FIFO is told when one of its items may have died and
 * sweeps the dead out once they could be half of it: amortised O(1), and memory stays
 * proportional to what is held, however long the agent runs.
 */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  /** Items that died since the last sweep (an upper bound: some may have left already). */
  private deadHint = 0;
  constructor(private readonly isDead: (item: T) => boolean) {}
  /** Items in memory, dead ones not yet swept included. */
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** One of the items may have died: sweep once the dead could be half of what is held. */
  died(): void {
    this.deadHint++;
    if (this.deadHint < 64 || this.deadHint * 2 < this.length) return;
    this.items = this.items.slice(this.head).filter((i) => i !== undefined && !this.isDead(i));
    this.head = 0;
    this.deadHint = 0;
  }
}

const isRemoved = (e: Entry) => e.removed;

const openLogFile = (path: string) => openNoFollow(path);

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The agent's durable queue of alerts not yet acknowledged: an append-only
 * log of CRC-checked records ("alert", "done"), fsynced in groups (every
 * append waiting at the time shares one fsync), compacted when mostly dead.
 * Live alerts are also held in memory, in order, for sending.
 *
 * Events: 'available' (alerts became durable and can be sent), 'empty'.
 */
export class Outbox extends EventEmitter {
  private readonly live = new Map<string, Entry>();
  private unsent = new Fifo<Entry>(isRemoved);
  private readonly bySeverity: Record<SeverityName, Fifo<Entry>> = {
    INFO: new Fifo(isRemoved),
    WARN: new Fifo(isRemoved),
    CRITICAL: new Fifo(isRemoved),
  };
  private liveBytes = 0;
  private ready = 0;
  private droppedTotal = 0;
  private syncCount = 0;
  /** The newest overflow alert, while it may still absorb further drops. */
  private overflow: { entry: Entry; detail: OverflowDetail } | undefined;
  private queue: PendingWrite[] = [];
  private writing = false;
  private compactRequested = false;
  private idleWaiters: Array<() => void> = [];
  private failed: Error | undefined;
  private closed = false;
  private fileBytes = OUTBOX_MAGIC.length;
  private readonly maxBytes: number;
  private readonly compactMinBytes: number;
  private readonly log: Logger | undefined;
  private readonly openLog: (path: string) => Promise<FileHandle>;

  private constructor(
    private readonly path: string,
    private file: FileHandle,
    private readonly lock: LockFile,
    options: OutboxOptions,
  ) {
    super();
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.compactMinBytes = options.compactMinBytes ?? 1024 * 1024;
    this.log = options.log;
    this.openLog = options.openLog ?? openLogFile;
    if (this.maxBytes < 4 * OVERFLOW_RESERVE_BYTES)
      throw new Error(`outbox maxBytes must be at least ${4 * OVERFLOW_RESERVE_BYTES}`);
  }

  /** Opens (or creates) the outbox, recovering every complete record and cutting off a torn tail. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const { path } = options;
    let opened: Outbox | undefined;
    const lock = await acquireLockFile(path, `${path}.lockdir`, {
      staleMs: options.lockStaleMs,
      onLost: (err) => {
        opened?.lockLost(err);
        options.onLockLost?.(err);
      },
    });
    try {
      await clearLegacyLockFile(`${path}.lock`, path);
      await unlink(`${path}.compact`).catch((err) => {
        if (!isMissing(err)) throw err;
      });
      const file = await openOrCreate(path, options.openLog ?? openLogFile);
      const outbox = new Outbox(path, file, lock, options);
      try {
        await outbox.recover();
      } catch (err) {
        await file.close();
        throw err;
      }
      opened = outbox;
      return outbox;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Alerts held (not yet acknowledged, rejected or dropped). */
  get size(): number {
    return this.live.size;
  }
  /**
   * Entries kept in memory by the send and shed queues, removed ones not yet swept included:
   * stays within about twice `size` (plus a small constant), however many alerts went through.
   */
  get held(): number {
    return Math.max(
      this.unsent.length,
      this.bySeverity.INFO.length + this.bySeverity.WARN.length + this.bySeverity.CRITICAL.length,
    );
  }
  /** Bytes of the alerts held, as on disk (what maxBytes caps). */
  get bytes(): number {
    return this.liveBytes;
  }
  /** Size of the log file (live and dead records). */
  get fileSize(): number {
    return this.fileBytes;
  }
  /** Alerts dropped on overflow since open. */
  get dropped(): number {
    return this.droppedTotal;
  }
  /** fsyncs of the log since open: appends waiting together share one. */
  get fsyncs(): number {
    return this.syncCount;
  }
  /** Durable alerts waiting to be sent. */
  get readyCount(): number {
    return this.ready;
  }

  has(alertId: string): boolean {
    return this.live.has(alertId);
  }

  /** The held alert with this id, if any. */
  get(alertId: string): OutboxAlert | undefined {
    return this.live.get(alertId)?.alert;
  }

  /** The alerts held, oldest first. */
  alerts(): OutboxAlert[] {
    return [...this.live.values()].map((e) => e.alert);
  }

  /** Appends an alert; resolves once it is on disk (fsynced). Overflow is handled here. */
  append(alert: OutboxAlert): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the outbox is closed'));
    if (this.live.has(alert.alertId))
      return Promise.reject(new Error(`alert ${alert.alertId} is already in the outbox`));
    const record = encodeRecord({ kind: 'alert', alert });
    const entry = this.add(alert, record.length, false);
    const written = this.write(record, entry);
    if (this.liveBytes > this.maxBytes) this.shed();
    return written;
  }

  /** These alerts left the outbox (acknowledged or rejected). Returns how many were held. */
  complete(alertIds: readonly string[]): number {
    const removed: string[] = [];
    for (const id of alertIds) {
      const entry = this.live.get(id);
      if (!entry) continue;
      this.remove(entry);
      removed.push(id);
    }
    if (removed.length > 0) this.writeDone(removed);
    return removed.length;
  }

  /**
   * Puts a corrected version of an alert (same alert_id) in place of the one held, to be sent
   * again once durable. On disk only the new record is written, and the later record of an id
   * wins on replay, so every cut of the file keeps one version: before the new record is whole,
   * the old one (resent, refused, fixed again); after, the new one. (A "done" for the old one
   * first, as before, could survive a crash that tore the new record: the alert was lost.) In
   * memory the old version stays until the new one is on disk, and stays if that write fails.
   */
  replace(alert: OutboxAlert): Promise<void> {
    const old = this.live.get(alert.alertId);
    if (!old) return this.append(alert);
    if (this.closed) return Promise.reject(new Error('the outbox is closed'));
    const record = encodeRecord({ kind: 'alert', alert });
    return this.write(record, undefined, () => {
      if (old.removed) {
        // Completed while the new version was being written: that "done" came first on disk.
        this.writeDone([alert.alertId]);
        return;
      }
      this.remove(old);
      this.add(alert, record.length, true);
      queueMicrotask(() => this.emit('available'));
      if (this.liveBytes > this.maxBytes) this.shed();
    });
  }

  /**
   * Takes the next durable alerts not yet sent, oldest first, up to maxEvents
   * and (past the first) maxBytes. They count as sent until requeue().
   */
  next(maxEvents: number, maxBytes = Number.POSITIVE_INFINITY): OutboxAlert[] {
    const out: OutboxAlert[] = [];
    let bytes = 0;
    for (let e = this.unsent.peek(); e; e = this.unsent.peek()) {
      if (e.removed || e.sent) {
        this.unsent.shift();
        continue;
      }
      if (!e.durable || out.length >= maxEvents) break;
      if (out.length > 0 && bytes + e.bytes > maxBytes) break;
      this.unsent.shift();
      e.sent = true;
      this.ready--;
      bytes += e.bytes;
      out.push(e.alert);
    }
    return out;
  }

  /** Everything held counts as unsent again, in order (a new stream resends it all). */
  requeue(): void {
    this.unsent = new Fifo(isRemoved);
    this.ready = 0;
    for (const e of this.live.values()) {
      e.sent = false;
      this.unsent.push(e);
      if (e.durable) this.ready++;
    }
    if (this.ready > 0) this.emit('available');
  }

  /** Resolves when every write queued so far is on disk (or failed). */
  settled(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Rewrites the file with only the live records. Runs by itself when the file is mostly dead. */
  compact(): Promise<void> {
    this.compactRequested = true;
    this.pump();
    return this.settled();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
    await this.file.close();
    await this.lock.release();
  }

  private add(alert: OutboxAlert, bytes: number, durable: boolean): Entry {
    const entry: Entry = { alert, bytes, durable, sent: false, removed: false };
    this.live.set(alert.alertId, entry);
    this.liveBytes += bytes;
    this.unsent.push(entry);
    if (durable) this.ready++;
    if (alert.ruleName === OVERFLOW_RULE_NAME) {
      const detail = parseOverflowDetail(alert.detailJson);
      if (detail) this.overflow = { entry, detail };
    } else {
      this.bySeverity[alert.severity]?.push(entry);
    }
    return entry;
  }

  private remove(entry: Entry): void {
    if (entry.removed) return;
    if (entry.durable && !entry.sent) this.ready--;
    entry.removed = true;
    this.live.delete(entry.alert.alertId);
    this.liveBytes -= entry.bytes;
    // Drop it from the queues too (swept in bulk), or every alert ever appended stays in memory.
    this.unsent.died();
    if (entry.alert.ruleName !== OVERFLOW_RULE_NAME) this.bySeverity[entry.alert.severity]?.died();
    // Checked after the current operation: shedding can empty the map for a moment.
    if (this.live.size === 0)
      queueMicrotask(() => {
        if (this.live.size === 0) this.emit('empty');
      });
  }

  /**
   * Over the cap: drop the oldest INFO alerts, then WARN, then CRITICAL, and
   * append one WARN alert saying what was dropped. While that alert is unsent,
   * later overflows replace it with one carrying the running totals.
   */
  private shed(): void {
    const budget = this.maxBytes - OVERFLOW_RESERVE_BYTES;
    const doneIds: string[] = [];
    let previous: OverflowDetail | undefined;
    const last = this.overflow;
    if (last && !last.entry.removed && !last.entry.sent) {
      previous = last.detail;
      this.remove(last.entry);
      doneIds.push(last.entry.alert.alertId);
    }
    const dropped: OutboxAlert[] = [];
    for (const severity of SHED_ORDER) {
      const queue = this.bySeverity[severity];
      while (this.liveBytes > budget) {
        const e = queue.shift();
        if (!e) break;
        if (e.removed) continue;
        this.remove(e);
        dropped.push(e.alert);
        doneIds.push(e.alert.alertId);
      }
    }
    if (doneIds.length > 0) this.writeDone(doneIds);
    if (dropped.length === 0 && !previous) return;
    this.droppedTotal += dropped.length;
    const detail = overflowDetail(dropped, previous, this.maxBytes);
    const alert: OutboxAlert = {
      alertId: randomUUID(),
      tripwireType: mostCommon(detail.by_type),
      severity: 'WARN',
      ruleName: OVERFLOW_RULE_NAME,
      timestampUs: Date.now() * 1000,
      detailJson: JSON.stringify(detail),
    };
    const record = encodeRecord({ kind: 'alert', alert });
    this.write(record, this.add(alert, record.length, false)).catch(() => {});
    this.log?.warn(
      { dropped: dropped.length, bySeverity: detail.by_severity, outboxMaxBytes: this.maxBytes },
      'outbox full: dropped the least severe, oldest alerts (an overflow alert reports them)',
    );
  }

  private writeDone(alertIds: string[]): void {
    // Not awaited: a lost "done" only means a resend, which the server deduplicates.
    this.write(encodeRecord({ kind: 'done', alertIds })).catch((err) =>
      this.log?.warn({ err }, 'outbox: could not record finished alerts; they may be resent'),
    );
  }

  private write(buf: Buffer, entry?: Entry, onDurable?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ buf, entry, onDurable, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.writing) return;
    this.writing = true;
    // Started a microtask later, so everything queued in this turn shares the first write and fsync.
    queueMicrotask(() =>
      this.writeLoop().catch((err) => {
        this.log?.error({ err }, 'outbox writer stopped unexpectedly');
        this.becomeIdle();
      }),
    );
  }

  /** Called by the writer in the same turn as it finds nothing left to do, so no append is missed. */
  private becomeIdle(): void {
    this.writing = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** The single writer: each turn writes everything queued, then one fsync for all of it. */
  private async writeLoop(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        if (!this.compactRequested && !this.mostlyDead()) return this.becomeIdle();
        this.compactRequested = false;
        try {
          await this.rewrite();
        } catch (err) {
          this.log?.error({ err }, 'outbox compaction failed; will try again after the next write');
          if (this.queue.length === 0) return this.becomeIdle();
        }
        continue;
      }
      const group = this.queue.splice(0);
      try {
        await this.writeGroup(group.map((w) => w.buf));
      } catch (err) {
        this.log?.error({ err }, 'outbox write failed');
        for (const w of group) {
          if (w.entry) this.remove(w.entry);
          w.reject(err as Error);
        }
        continue;
      }
      let available = false;
      for (const w of group) {
        if (w.entry) {
          w.entry.durable = true;
          if (!w.entry.removed && !w.entry.sent) {
            this.ready++;
            available = true;
          }
        }
        w.onDurable?.();
        w.resolve();
      }
      if (available) queueMicrotask(() => this.emit('available'));
    }
  }

  private async writeGroup(bufs: Buffer[]): Promise<void> {
    if (this.failed) throw this.failed;
    const size = bufs.reduce((n, b) => n + b.length, 0);
    try {
      const { bytesWritten } = await this.file.writev(bufs, this.fileBytes);
      if (bytesWritten !== size) throw new Error(`short write: ${bytesWritten} of ${size} bytes`);
      await this.file.datasync();
      this.syncCount++;
      this.fileBytes += size;
    } catch (err) {
      // Cut off whatever part was written, so later records follow valid ones.
      await this.file.truncate(this.fileBytes).catch((truncateErr) => {
        this.failed = new Error(`outbox ${this.path} is unusable: ${truncateErr.message}`);
      });
      throw err;
    }
  }

  private lockLost(err: Error): void {
    this.failed = new Error(
      `outbox ${this.path} is unusable: another process took over its lock (${err.message})`,
    );
    this.log?.error({ err: err.message }, 'outbox lock lost to another process; writes stop');
  }

  private mostlyDead(): boolean {
    if (this.failed) return false;
    const dead = this.fileBytes - OUTBOX_MAGIC.length - this.liveBytes;
    return this.fileBytes > this.compactMinBytes && dead * 2 > this.fileBytes;
  }

  /** Compaction: the live records into a new file, fsync, rename over the old one. */
  private async rewrite(): Promise<void> {
    const before = this.fileBytes;
    const tmpPath = `${this.path}.compact`;
    const tmp = await createTempFile(tmpPath);
    let size = 0;
    try {
      let chunk: Buffer[] = [OUTBOX_MAGIC];
      let chunkBytes = OUTBOX_MAGIC.length;
      const flush = async () => {
        await tmp.writev(chunk, size);
        size += chunkBytes;
        chunk = [];
        chunkBytes = 0;
      };
      for (const e of [...this.live.values()]) {
        const record = encodeRecord({ kind: 'alert', alert: e.alert });
        chunk.push(record);
        chunkBytes += record.length;
        if (chunkBytes >= 1024 * 1024) await flush();
      }
      await flush();
      await tmp.datasync();
    } catch (err) {
      await tmp.close();
      await unlink(tmpPath).catch(() => {});
      throw err;
    }
    await tmp.close();
    await rename(tmpPath, this.path);
    await fsyncDirectory(dirname(this.path));
    const old = this.file;
    try {
      this.file = await this.openLog(this.path);
    } catch (err) {
      this.failed = new Error(`outbox ${this.path} is unusable: ${(err as Error).message}`);
      throw err;
    }
    this.fileBytes = size;
    await old.close();
    this.log?.debug({ before, after: size, alerts: this.live.size }, 'outbox compacted');
  }

  private async recover(): Promise<void> {
    const header = Buffer.alloc(OUTBOX_MAGIC.length);
    const { bytesRead } = await this.file.read(header, 0, header.length, 0);
    if (bytesRead < header.length) {
      // Torn while being created: nothing was ever appended.
      await this.file.truncate(0);
      await this.file.write(OUTBOX_MAGIC, 0, OUTBOX_MAGIC.length, 0);
      await this.file.datasync();
      return;
    }
    if (!header.equals(OUTBOX_MAGIC))
      throw new Error(`${this.path} is not a TripWire outbox (unknown header); move it away`);
    const replay = ({ record, size }: { record: OutboxRecord; size: number }) => {
      if (record.kind === 'alert') {
        // A later record of a held id is a corrected version (replace()): it wins.
        const held = this.live.get(record.alert.alertId);
        if (held) this.remove(held);
        this.add(record.alert, size, true);
        return;
      }
      for (const id of record.alertIds) {
        const entry = this.live.get(id);
        if (entry) this.remove(entry);
      }
    };
    const scan = await scanRecords(this.file, replay);
    if (scan.unreadable > 0)
      this.log?.warn(
        { records: scan.unreadable },
        'outbox: skipped records this version cannot read',
      );
    if (scan.validEnd < scan.fileSize) {
      this.log?.warn(
        { discardedBytes: scan.fileSize - scan.validEnd },
        'outbox: cut off a torn or corrupt tail (a write interrupted by a crash)',
      );
      await this.file.truncate(scan.validEnd);
      await this.file.datasync();
    }
    this.fileBytes = scan.validEnd;
  }
}

async function openOrCreate(
  path: string,
  openLog: (path: string) => Promise<FileHandle>,
): Promise<FileHandle> {
  try {
    return await openLog(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  // Created whole (header included) under a temporary name, then renamed into place.
  const tmpPath = `${path}.compact`;
  const tmp = await createTempFile(tmpPath);
  await tmp.write(OUTBOX_MAGIC);
  await tmp.datasync();
  await tmp.close();
  await rename(tmpPath, path);
  await fsyncDirectory(dirname(path));
  return openLog(path);
}

function parseOverflowDetail(json: string): OverflowDetail | undefined {
  try {
    const d = JSON.parse(json) as OverflowDetail;
    return typeof d.dropped === 'number' && d.by_severity && d.by_type ? d : undefined;
  } catch {
    return undefined;
  }
}

function overflowDetail(
  dropped: OutboxAlert[],
  previous: OverflowDetail | undefined,
  maxBytes: number,
): OverflowDetail {
  const bySeverity = { INFO: 0, WARN: 0, CRITICAL: 0, ...previous?.by_severity };
  const byType = { FILE: 0, NETWORK: 0, PROCESS: 0, ...previous?.by_type };
  let oldest = previous ? Date.parse(previous.oldest_dropped_at) * 1000 : Number.POSITIVE_INFINITY;
  let newest = previous ? Date.parse(previous.newest_dropped_at) * 1000 : Number.NEGATIVE_INFINITY;
  for (const a of dropped) {
    bySeverity[a.severity]++;
    byType[a.tripwireType]++;
    oldest = Math.min(oldest, a.timestampUs);
    newest = Math.max(newest, a.timestampUs);
  }
  return {
    dropped: (previous?.dropped ?? 0) + dropped.length,
    by_severity: bySeverity,
    by_type: byType,
    oldest_dropped_at: new Date(oldest / 1000).toISOString(),
    newest_dropped_at: new Date(newest / 1000).toISOString(),
    outbox_max_bytes: maxBytes,
  };
}

function mostCommon(byType: Record<TripwireTypeName, number>): TripwireTypeName {
  let best: TripwireTypeName = 'PROCESS';
  for (const t of TRIPWIRE_TYPES) if (byType[t] > byType[best]) best = t;
  return best;
}
