import { execFile } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clipUtf8 } from '@tripwire/agent-sdk';
import { isMissing } from './file-facts.js';

/**
 * How much of a command line the agent reads, matches and reports by default (argv can be
 * megabytes: an attacker pads it to hide or to stall). TRIPWIRE_CMDLINE_MAX_BYTES changes it.
 */
export const DEFAULT_CMDLINE_MAX_BYTES = 4096;

/** One process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** argv joined by spaces, at most the cap's bytes; `[comm]` for a kernel thread, like ps. */
  cmdline: string;
  /** Bytes of the whole command line (more than cmdline's when it was cut). */
  cmdlineBytes: number;
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

/** A command line as read: its first `maxBytes` bytes as text, and its whole size. */
export interface Cmdline {
  text: string;
  bytes: number;
}

/**
 * /proc/pid/cmdline (NUL-separated argv) as text: arguments joined by spaces, cut at `maxBytes`
 * bytes before anything else looks at it (invalid UTF-8 becomes U+FFFD). `bytes` is the size of
 * the whole joined command line.
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

/** The process, or null if it exited (or is otherwise unreadable) mid-read. */
export async function readProcess(
  procRoot: string,
  pid: number,
  cmdlineMaxBytes = DEFAULT_CMDLINE_MAX_BYTES,
): Promise<ProcessInfo | null> {
  const dir = join(procRoot, String(pid));
  try {
    const [statText, statusText, rawCmdline] = await Promise.all([
      readFile(join(dir, 'stat'), 'utf8'),
      readFile(join(dir, 'status'), 'utf8'),
      readFile(join(dir, 'cmdline')),
    ]);
    const stat = parseProcStat(statText);
    const uid = parseStatusUid(statusText);
    if (!stat || uid === null) return null;
    const cmdline = readCmdlineBytes(rawCmdline, cmdlineMaxBytes);
    return {
      pid,
      ppid: stat.ppid,
      cmdline: cmdline.text || `[${stat.comm}]`,
      cmdlineBytes: cmdline.bytes,
      comm: stat.comm,
      startTicks: stat.startTicks,
      uid,
    };
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
): Promise<Cmdline | null> {
  try {
    return readCmdlineBytes(await readFile(join(procRoot, String(pid), 'cmdline')), maxBytes);
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
