import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clipUtf8 } from '@tripwire/agent-sdk';
import { isMissing } from './file-facts.js';

/**
 * How much of a command line an alert reports by default (argv can be megabytes).
 * TRIPWIRE_CMDLINE_MAX_BYTES changes it. Rules match the WHOLE command line (RE2 is linear): a
 * match on a cut one is beaten by padding before the telling flag (`nc -v -v … -e /bin/sh`).
 */
export const DEFAULT_CMDLINE_MAX_BYTES = 4096;

/**
 * Safety bound on one read of /proc/<pid>/cmdline. exec() caps argv + envp at 3/4 of 8 MiB
 * (6 MiB, Linux ≥ 4.13), so no exec'd command line reaches it; only a process that moves its own
 * argv area (prctl PR_SET_MM, CAP_SYS_RESOURCE) can, and then the first 8 MiB are matched.
 */
export const CMDLINE_READ_CAP_BYTES = 8 * 1024 * 1024;

/** One process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** argv joined by spaces, at most the cap's bytes (what alerts report); `[comm]` for a kernel thread, like ps. */
  cmdline: string;
  /** Bytes of the whole command line (more than cmdline's when it was cut). */
  cmdlineBytes: number;
  /** SHA-256 of the whole command line as read: tells an exec() apart even past the cut. */
  cmdlineDigest: string;
  comm: string;
  /** Clock ticks after boot (field 22 of /proc/pid/stat). */
  startTicks: number;
  /** Real uid. */
  uid: number;
}

/** Numeric entries of /proc: the pids alive right now. */
export async function listPids(procRoot: string): Promise<number[]> {
  const names = await readdir(procRoot);
  const pids: number[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  startTicks: number;
}

/** Parses /proc/pid/stat; comm may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!Number.isInteger(ppid) || !Number.isFinite(startTicks)) return null;
  return { comm: text.slice(open + 1, close), state: rest[0] ?? '?', ppid, startTicks };
}

/** The real uid from /proc/pid/status ("Uid:\treal\teffective\tsaved\tfs"). */
export function parseStatusUid(text: string): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** A command line as read: its first `maxBytes` bytes as text (to report), and its whole size. */
export interface Cmdline {
  text: string;
  bytes: number;
}

/** A command line for matching: the report, plus the whole text and its digest. */
export interface FullCmdline extends Cmdline {
  /** The whole command line (up to CMDLINE_READ_CAP_BYTES), arguments joined by spaces. */
  whole: string;
  digest: string;
  /** The read stopped at CMDLINE_READ_CAP_BYTES: `bytes` is a lower bound. */
  overReadCap: boolean;
}

/** The whole argv, NUL-separated, joined by spaces (what rules match). */
export function wholeCmdlineText(raw: Buffer): string {
  let end = raw.length;
  while (end > 0 && raw[end - 1] === 0) end--;
  return raw.toString('utf8', 0, end).replaceAll('\0', ' ');
}

/** Reads a /proc file up to `cap` bytes (its st_size is 0, so read until EOF or the cap). */
export async function readBounded(path: string, cap = CMDLINE_READ_CAP_BYTES): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < cap) {
      const buf = Buffer.allocUnsafe(Math.min(64 * 1024, cap - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close();
  }
}

/** The report (cut to `maxBytes`) and the whole text to match, from one read. */
export function fullCmdline(
  raw: Buffer,
  maxBytes: number,
  readCap = CMDLINE_READ_CAP_BYTES,
): FullCmdline {
  return {
    ...readCmdlineBytes(raw, maxBytes),
    whole: wholeCmdlineText(raw),
    digest: createHash('sha256').update(raw).digest('base64'),
    overReadCap: raw.length >= readCap,
  };
}

/**
 * /proc/pid/cmdline (NUL-separated argv) as text to REPORT: arguments joined by spaces, cut at
 * `maxBytes` bytes (invalid UTF-8 becomes U+FFFD). `bytes` is the size of the whole joined
 * command line. Rules match wholeCmdlineText instead.
 */
export function readCmdlineBytes(raw: Buffer, maxBytes = DEFAULT_CMDLINE_MAX_BYTES): Cmdline {
  let end = raw.length;
  while (end > 0 && raw[end - 1] === 0) end--;
  const cut = Math.min(end, maxBytes);
  let text = raw.toString('utf8', 0, cut).replaceAll('\0', ' ');
  // A character split by the cut decodes as U+FFFD at the end: drop it.
  if (cut < end && text.endsWith('\uFFFD')) text = text.slice(0, -1);
  // Each invalid byte decodes as U+FFFD, three bytes: the text may outgrow the cap.
  if (text.length > maxBytes / 3) text = clipUtf8(text, maxBytes);
  return { text, bytes: end };
}

/**
 * `{ field: whole size }` for each command line that was cut, for an alert's `truncated`; the
 * SDK adds its own cuts (if the detail is still too large) to the same object.
 */
export function truncatedCmdlines(
  fields: Record<string, Cmdline | null>,
  maxBytes: number,
): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const [field, cmdline] of Object.entries(fields)) {
    if (cmdline && cmdline.bytes > maxBytes) {
      out ??= {};
      out[field] = cmdline.bytes;
    }
  }
  return out;
}

export function parseCmdline(raw: Buffer, maxBytes = DEFAULT_CMDLINE_MAX_BYTES): string {
  return readCmdlineBytes(raw, maxBytes).text;
}

/**
 * The process, or null if it exited (or is otherwise unreadable) mid-read; `cmdline` holds the
 * whole command line to match, which the caller drops after matching (only `info` is kept).
 */
export async function readProcess(
  procRoot: string,
  pid: number,
  cmdlineMaxBytes = DEFAULT_CMDLINE_MAX_BYTES,
): Promise<{ info: ProcessInfo; cmdline: FullCmdline } | null> {
  const dir = join(procRoot, String(pid));
  try {
    const [statText, statusText, rawCmdline] = await Promise.all([
      readFile(join(dir, 'stat'), 'utf8'),
      readFile(join(dir, 'status'), 'utf8'),
      readBounded(join(dir, 'cmdline')),
    ]);
    const stat = parseProcStat(statText);
    const uid = parseStatusUid(statusText);
    if (!stat || uid === null) return null;
    const cmdline = fullCmdline(rawCmdline, cmdlineMaxBytes);
    const info: ProcessInfo = {
      pid,
      ppid: stat.ppid,
      cmdline: cmdline.text || `[${stat.comm}]`,
      cmdlineBytes: cmdline.bytes,
      cmdlineDigest: cmdline.digest,
      comm: stat.comm,
      startTicks: stat.startTicks,
      uid,
    };
    return { info, cmdline };
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw err;
  }
}

/** readlink of /proc/pid/<name> (exe, cwd), or null when it fails (exited, kernel thread, EACCES). */
export async function readProcLink(
  procRoot: string,
  pid: number,
  name: string,
): Promise<string | null> {
  try {
    return await readlink(join(procRoot, String(pid), name));
  } catch {
    return null;
  }
}

/** Re-reads only the command line (a young process may have exec'd since it was first seen). */
export async function readCmdline(
  procRoot: string,
  pid: number,
  maxBytes = DEFAULT_CMDLINE_MAX_BYTES,
): Promise<FullCmdline | null> {
  try {
    return fullCmdline(await readBounded(join(procRoot, String(pid), 'cmdline')), maxBytes);
  } catch {
    return null;
  }
}

/** Boot time in epoch seconds (the btime line of /proc/stat). */
export async function readBootTime(procRoot: string): Promise<number> {
  const text = await readFile(join(procRoot, 'stat'), 'utf8');
  const m = /^btime\s+(\d+)/m.exec(text);
  if (!m) throw new Error(`no btime in ${join(procRoot, 'stat')}`);
  return Number(m[1]);
}

let clockTicks: Promise<number> | undefined;

/** USER_HZ, from `getconf CLK_TCK` once; 100 (every mainstream Linux) when that fails. */
export function clockTicksPerSecond(): Promise<number> {
  clockTicks ??= promisify(execFile)('getconf', ['CLK_TCK'], { timeout: 2000 })
    .then(({ stdout }) => {
      const n = Number(stdout.trim());
      return Number.isInteger(n) && n > 0 ? n : 100;
    })
    .catch(() => 100);
  return clockTicks;
}

export function startTimeIso(bootTimeSec: number, startTicks: number, ticksPerSec: number): string {
  return new Date(bootTimeSec * 1000 + (startTicks * 1000) / ticksPerSec).toISOString();
}
