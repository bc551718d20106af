import { constants } from 'node:fs';
import { type FileHandle, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirectory, openNoFollow } from './atomic-file.js';
import type { OutboxAlert } from './outbox-records.js';

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;

/** One line of the dead-letter file: a CRITICAL alert the server refused and the agent could not fix. */
export interface DeadLetterEntry {
  dead_lettered_at: string;
  /** The server's RejectCode name, e.g. REJECT_CODE_HOST_MISMATCH. */
  code: string;
  reason: string;
  alert: {
    alert_id: string;
    tripwire_type: string;
    severity: string;
    rule_name: string;
    timestamp_us: number;
    event_detail_json: string;
  };
}

export const deadLetterEntry = (
  alert: OutboxAlert,
  code: string,
  reason: string,
): DeadLetterEntry => ({
  dead_lettered_at: new Date().toISOString(),
  code,
  reason,
  alert: {
    alert_id: alert.alertId,
    tripwire_type: alert.tripwireType,
    severity: alert.severity,
    rule_name: alert.ruleName,
    timestamp_us: alert.timestampUs,
    event_detail_json: alert.detailJson,
  },
});

/**
 * The agent's dead letters: JSON lines (0600) in the state folder, each written and fsynced
 * before the alert leaves the outbox, so a crash loses none. Bounded: once the file would pass
 * `maxBytes` it is renamed to `<path>.1` (replacing the previous one) and a new one started, so
 * at most twice `maxBytes` is kept; the oldest letters go first, and never silently: append()
 * says how many the rotation discarded, and the caller raises an alert about them.
 */
export class DeadLetterFile {
  /** Letters written since start. */
  written = 0;
  /** Times the file was full and rotated. */
  rotations = 0;
  /** Letters discarded by rotations (the older `.1` replaced), since start. */
  discarded = 0;
  private file: FileHandle | undefined;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
  ) {}

  /**
   * Resolves once the letter is on disk, with how many older letters its rotation discarded
   * (0 almost always); letters are written one at a time, in order.
   */
  append(entry: DeadLetterEntry): Promise<number> {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    const done = this.chain.then(() => this.write(line));
    this.chain = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file?.close();
    this.file = undefined;
  }

  /** Opens for appending; a file created here has its folder entry fsynced too. */
  private async openFile(): Promise<FileHandle> {
    const existing = await stat(this.path).then(
      (s) => s.size,
      () => undefined,
    );
    const file = await openNoFollow(this.path, APPEND);
    this.size = existing ?? 0;
    if (existing === undefined) await fsyncDirectory(dirname(this.path));
    return file;
  }

  private async write(line: Buffer): Promise<number> {
    this.file ??= await this.openFile();
    let discarded = 0;
    if (this.size > 0 && this.size + line.length > this.maxBytes) {
      await this.file.close();
      this.file = undefined;
      discarded = await countLines(`${this.path}.1`);
      await rename(this.path, `${this.path}.1`);
      this.discarded += discarded;
      this.rotations++;
      // The new file's folder entry is fsynced, which makes the rename durable too.
      this.file = await this.openFile();
    }
    await this.file.write(line);
    await this.file.datasync();
    this.size += line.length;
    this.written++;
    return discarded;
  }
}

/** Letters (lines) in a dead-letter file; 0 when there is none. Read once per rotation. */
async function countLines(path: string): Promise<number> {
  const bytes = await readFile(path).catch(() => Buffer.alloc(0));
  let n = 0;
  for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) n++;
  return n;
}
