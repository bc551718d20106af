/**
 * What a benchmark's servers cost, read from /proc (Linux only): CPU seconds (utime + stime of
 * /proc/<pid>/stat) and resident memory of chosen processes, including processes that come and
 * go during the measurement, like PostgreSQL backends. The benchmarks share this so that every
 * one of them counts CPU the same way.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const CLK_TCK =
  Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
export const CPUS = readFileSync('/proc/stat', 'utf8').match(/^cpu\d+ /gm)?.length ?? 1;

/** utime + stime from the text of /proc/<pid>/stat, in clock ticks. */
export function statTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** utime + stime of a process, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Resident memory of a process in KiB (VmRSS), NaN once it is gone. */
export function rssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** Busy and total time of the whole machine, in clock ticks summed over its CPUs (/proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th numbers of the cpu line.
  return { busy: total - ticks[3]! - (ticks[4] ?? 0), total };
}

/** How many of the machine's cores were busy between two machineTicks() readings. */
export const busyCores = (from: { busy: number; total: number }, to = machineTicks()) =>
  ((to.busy - from.busy) / Math.max(1, to.total - from.total)) * CPUS;

/** Something that runs SQL: a pg Pool or Client. */
export interface Queryable {
  query<R extends Record<string, unknown>>(sql: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * The PostgreSQL backends serving one database (and, optionally, only the connections whose
 * application_name starts with a prefix), leaving out the asking connection itself.
 */
export async function postgresBackendPids(
  db: Queryable,
  database: string,
  applicationPrefix = '',
): Promise<number[]> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_backend_pid()`,
    [database, `${applicationPrefix.replace(/[\\%_]/g, '\\$&')}%`],
  );
  return rows.map((r) => r.pid);
}

/** The process id of the Redis server, from the text of `INFO server`. */
export function redisPidFromInfo(info: string): number {
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  if (!Number.isInteger(pid)) throw new Error('INFO server has no process_id');
  return pid;
}

/** Where a group's process ids come from: fixed, or asked again at every sample. */
export type PidSource = () => number[] | Promise<number[]>;

interface Seen {
  first: number;
  last: number;
}

/**
 * CPU seconds spent by named groups of processes between start() and stop(). Groups are sampled
 * every `intervalMs`, so a process that appears meanwhile (a new PostgreSQL backend) counts from
 * zero, and one that exits meanwhile keeps what it had used at its last sample.
 */
export class CpuMeter {
  private readonly seen = new Map<string, Map<number, Seen>>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private startedAt = 0;

  constructor(
    private readonly groups: Record<string, PidSource>,
    private readonly intervalMs = 250,
    private readonly readCpu: (pid: number) => number = cpuSeconds,
  ) {}

  async start(): Promise<void> {
    this.seen.clear();
    for (const name of Object.keys(this.groups)) this.seen.set(name, new Map());
    await this.sample(true);
    this.startedAt = performance.now();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample(false));
    }, this.intervalMs);
  }

  /** CPU seconds per group, plus `total` and `seconds` (wall time measured). */
  async stop(): Promise<Record<string, number> & { total: number; seconds: number }> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample(false);
    const seconds = (performance.now() - this.startedAt) / 1000;
    const out: Record<string, number> = {};
    let total = 0;
    for (const [name, pids] of this.seen) {
      let sum = 0;
      for (const { first, last } of pids.values()) sum += Math.max(0, last - first);
      out[name] = sum;
      total += sum;
    }
    return Object.assign(out, { total, seconds });
  }

  private async sample(atStart: boolean): Promise<void> {
    for (const [name, source] of Object.entries(this.groups)) {
      const pids = this.seen.get(name)!;
      for (const pid of await source()) {
        const now = this.readCpu(pid);
        const known = pids.get(pid);
        if (known) known.last = Math.max(known.last, now);
        // Not there at the start: it began meanwhile, so all its CPU time is ours.
        else pids.set(pid, { first: atStart ? now : 0, last: now });
      }
    }
  }
}
