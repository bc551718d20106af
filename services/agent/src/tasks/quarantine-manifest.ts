import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@tripwire/agent-sdk';

/** One quarantined file: where it came from and what it was. */
export interface QuarantineEntry {
  id: string;
  originalPath: string;
  sha256: string;
  size: number;
  /** Permission bits it had (it is held at 0000). */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  quarantinedAt: string;
  /** 'moving' until the file is in the folder: a crash in between leaves a trace to check by hand. */
  state: 'moving' | 'held';
}

/**
 * The quarantine folder (`state-dir/quarantine`, 0700) and its manifest.json, replaced
 * atomically on every change like the agent's other state files.
 */
export class QuarantineManifest {
  private entries: QuarantineEntry[] | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  get manifestPath(): string {
    return join(this.dir, 'manifest.json');
  }

  fileOf(id: string): string {
    return join(this.dir, id);
  }

  async get(id: string): Promise<QuarantineEntry | undefined> {
    return (await this.load()).find((e) => e.id === id);
  }

  async put(entry: QuarantineEntry): Promise<void> {
    const entries = await this.load();
    const i = entries.findIndex((e) => e.id === entry.id);
    if (i >= 0) entries[i] = entry;
    else entries.push(entry);
    await this.save();
  }

  async remove(id: string): Promise<void> {
    const entries = await this.load();
    this.entries = entries.filter((e) => e.id !== id);
    await this.save();
  }

  private async load(): Promise<QuarantineEntry[]> {
    if (this.entries) return this.entries;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { mode } = await stat(this.dir);
    if ((mode & 0o077) !== 0)
      throw new Error(`the quarantine folder ${this.dir} is open to other users; chmod 700 it`);
    const text = await readFile(this.manifestPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '{"files":[]}';
      throw err;
    });
    this.entries = (JSON.parse(text) as { files: QuarantineEntry[] }).files;
    return this.entries;
  }

  private save(): Promise<void> {
    const body = `${JSON.stringify({ files: this.entries ?? [] }, null, 2)}\n`;
    const write = this.writes.then(() => writeFileAtomic(this.manifestPath, body));
    this.writes = write.catch(() => {});
    return write;
  }
}
