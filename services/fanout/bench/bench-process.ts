/**
 * Services run as their own processes for a benchmark (their build: `node dist/main.js`, as
 * operators run them), and the CPU they and the machine spend, read from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
export const CPUS = readFileSync('/proc/stat', 'utf8').match(/^cpu\d+ /gm)?.length ?? 1;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child still running is killed when the benchmark exits, however it exits. */
export const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat); 0 once gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Busy and total time of the whole machine, in clock ticks summed over its CPUs (/proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - (ticks[4] ?? 0), total };
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export interface BuiltService {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Non-empty lines it printed (LOG_LEVEL=warn: only what went wrong). */
  output: string[];
}

/** `node dist/main.js` in `dir` with `env` added to this process's environment. */
export function startBuiltService(name: string, dir: string, env: Record<string, string>) {
  const child = track(
    spawn(process.execPath, ['dist/main.js'], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const output: string[] = [];
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) output.push(line.trim());
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return { name, child, pid: child.pid!, output } satisfies BuiltService;
}

/** Polls `url` until it answers 2xx; `each` runs between attempts. */
export async function untilOk(
  service: BuiltService,
  url: string,
  timeoutMs: number,
  each?: () => void,
): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if (service.child.exitCode !== null) {
      throw new Error(
        `${service.name} exited (${service.child.exitCode}):\n${service.output.join('\n')}`,
      );
    }
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    each?.();
    await sleep(100);
  }
  throw new Error(`${service.name}: ${url} not OK after ${timeoutMs} ms`);
}

/** SIGTERM, and SIGKILL if it has not exited 10 s later. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) === false) {
    child.kill('SIGKILL');
    await exited;
  }
}
