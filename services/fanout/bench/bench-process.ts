/**
 * Services run as their own processes for a benchmark (their build: `node dist/main.js`, as
 * operators run them); the CPU they and the machine spend comes from the shared /proc sampler
 * (@tripwire/test-fixtures/proc-cpu).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export { CPUS, cpuSeconds, machineTicks } from '@tripwire/test-fixtures/proc-cpu';

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
