// The agent's secrets and state folder against another local user (issue 14, item 3): the
// enrollment token never on a command line, a token file or state folder others can touch
// refused, and the one-writer lock neither fooled by a reused PID nor by a second agent.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentProcess,
  ENROLLMENT_TOKEN,
  IngestProcess,
  tempDir,
  until,
  useAgentTestEnv,
} from './agent-harness.js';

const env = useAgentTestEnv();
let ingest: IngestProcess;
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

beforeAll(async () => {
  ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN);
  await ingest.start();
}, 60_000);
afterAll(async () => {
  await ingest?.stop();
});

let seq = 0;
/** A demo agent on a state folder of its own (or the one given), registering as a fresh host. */
function demoAgent(stateDir = tempDir('secrets'), hostname = `secrets-${process.pid}-${++seq}`) {
  const agent = new AgentProcess(stateDir, [
    'demo',
    '--hostname',
    hostname,
    '--server',
    ingest.address,
    '--state-dir',
    stateDir,
    '--insecure',
    '--rate',
    '2',
  ]);
  return { agent, hostname, stateDir };
}

const registered = async (hostname: string) =>
  (await env.pool.query('SELECT 1 FROM hosts WHERE hostname = $1', [hostname])).rowCount === 1;

const logged = (agent: AgentProcess, text: string) => agent.output.join('').includes(text);

/**
 * The command lines of every process in one process group (pnpm, its shell, the agent), as `ps`
 * shows them to any user. Only this test's group: other test files run agents with the same
 * token on their command lines at the same time.
 */
function commandLinesOfGroup(pgid: number): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      // stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so count from its ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pgid) continue;
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // The process ended meanwhile.
    }
  }
  return lines;
}

function tokenFile(text: string, mode = 0o600) {
  const path = join(tempDir('token'), 'enroll-token');
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

/** The documented command, run as a person runs it: through pnpm, from the repository root. */
function pnpmAgent(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(
    'pnpm',
    ['--silent', '--filter', '@tripwire/agent', 'agent', 'demo', ...args],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    child,
    output: () => out,
    /** SIGTERM to the whole group this test started (pnpm, its shell, the agent). */
    async stop() {
      if (child.exitCode === null && child.signalCode === null)
        process.kill(-child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

async function runDocumented(form: 'file' | 'env' | 'flag') {
  const token = ENROLLMENT_TOKEN;
  const hostname = `documented-${form}-${process.pid}`;
  const args = [
    '--server',
    ingest.address,
    '--insecure',
    '--hostname',
    hostname,
    '--state-dir',
    tempDir(`documented-${form}`),
    '--rate',
    '2',
  ];
  let extraEnv: Record<string, string> = {};
  if (form === 'file') args.push('--enroll-token-file', tokenFile(`${token}\n`));
  if (form === 'env') extraEnv = { TRIPWIRE_ENROLL_TOKEN: token };
  if (form === 'flag') args.push('--enroll-token', token);
  const run = pnpmAgent(args, extraEnv);
  let visible: string[] = [];
  try {
    await until(() => registered(hostname), 60_000, `the ${form} agent to register`);
    visible = commandLinesOfGroup(run.child.pid!).filter((line) => line.includes(token));
    return { visible, output: run.output() };
  } finally {
    await run.stop();
  }
}

describe('the enrollment token stays off every command line', () => {
  it('the documented forms (token file, environment) register and no process shows the token', async () => {
    for (const form of ['file', 'env'] as const) {
      const { visible } = await runDocumented(form);
      expect(visible, `${form}: command lines showing the token`).toEqual([]);
    }
  }, 120_000);

  it('--enroll-token still works, but ps shows it, and the agent warns', async () => {
    const { visible, output } = await runDocumented('flag');
    expect(visible.length).toBeGreaterThan(0);
    expect(output).toContain('every local user can read it');
  }, 60_000);

  it('a token file is trimmed; one open to others, empty or holding two lines is refused', async () => {
    const good = demoAgent();
    good.agent.start(['--enroll-token-file', tokenFile(`  ${ENROLLMENT_TOKEN} \n\n`)], {
      TRIPWIRE_ENROLL_TOKEN: undefined,
    });
    await until(() => registered(good.hostname), 30_000, 'the agent with a token file to register');
    expect(good.agent.running).toBe(true);

    const refusals: Array<[string, RegExp]> = [
      [tokenFile(ENROLLMENT_TOKEN, 0o644), /is open to other users \(mode 0644\); chmod 600/],
      [tokenFile(ENROLLMENT_TOKEN, 0o660), /is open to other users \(mode 0660\)/],
      [tokenFile(' \n'), /is empty/],
      [tokenFile(`${ENROLLMENT_TOKEN}\nsecond line\n`), /must hold one token on one line/],
    ];
    for (const [path, message] of refusals) {
      const bad = demoAgent();
      bad.agent.start(['--enroll-token-file', path], { TRIPWIRE_ENROLL_TOKEN: undefined });
      expect(await bad.agent.exited).toBe(1);
      expect(bad.agent.output.join('')).toMatch(message);
      expect(await registered(bad.hostname)).toBe(false);
    }
    // Nothing disturbed: the agent started first is still streaming.
    expect(good.agent.running).toBe(true);
    await good.agent.stop();
  }, 90_000);

  it('refuses both a token and a token file', async () => {
    const both = demoAgent();
    both.agent.start(['--enroll-token-file', tokenFile(ENROLLMENT_TOKEN)]);
    expect(await both.agent.exited).toBe(2);
    expect(both.agent.output.join('')).toContain(
      'give the enrollment token once: either it or --enroll-token-file',
    );
  });
});

describe('the state folder', () => {
  it('an agent refuses to start on a folder other users can write, and registers nothing', async () => {
    for (const mode of [0o777, 0o770, 0o1777]) {
      const stateDir = tempDir('open-state');
      chmodSync(stateDir, mode);
      const { agent, hostname } = demoAgent(stateDir);
      agent.start();
      expect(await agent.exited).toBe(1);
      expect(agent.output.join('')).toContain(
        `the state folder ${stateDir} is writable by other users (mode 0${(mode & 0o777).toString(8)})`,
      );
      expect(await registered(hostname)).toBe(false);
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'an agent refuses a folder that belongs to another user',
    async () => {
      const stateDir = tempDir('foreign-state');
      chownSync(stateDir, 65534, 65534);
      const { agent } = demoAgent(stateDir);
      agent.start();
      expect(await agent.exited).toBe(1);
      expect(agent.output.join('')).toContain('belongs to uid 65534, not to this user');
    },
  );
});

describe('one agent per state folder', () => {
  it("a live agent's lock stops a second agent, which names it; the first keeps streaming", async () => {
    const first = demoAgent();
    first.agent.start();
    await until(() => registered(first.hostname), 30_000, 'the first agent to register');
    const second = demoAgent(first.stateDir, first.hostname);
    second.agent.start();
    expect(await second.agent.exited).toBe(1);
    expect(second.agent.output.join('')).toMatch(/outbox\.log: in use by another process/);
    expect(first.agent.running).toBe(true);
    await first.agent.stop();
  });

  it('an old-style lock naming a live, unrelated PID does not block a new agent', async () => {
    const stateDir = tempDir('legacy-lock');
    // The PID of a process that is alive and is not an agent: this test's own.
    writeFileSync(join(stateDir, 'outbox.log.lock'), String(process.pid), { mode: 0o600 });
    const { agent, hostname } = demoAgent(stateDir);
    agent.start();
    await until(() => registered(hostname), 30_000, 'the agent to register');
    expect(agent.running).toBe(true);
    expect(readdirSync(stateDir)).not.toContain('outbox.log.lock');
    await agent.stop();
  });

  it("a killed agent's lock (left by kill -9) is taken over once it is stale", async () => {
    const first = demoAgent();
    first.agent.start();
    await until(() => registered(first.hostname), 30_000, 'the first agent to register');
    // Killed before its credentials reached the disk, the restart would be a re-registration of
    // an enrolled host (refused until an admin approves): kill it once it holds them.
    await until(
      () => existsSync(join(first.stateDir, 'credentials.json')),
      30_000,
      'the first agent to store its credentials',
    );
    await first.agent.kill9();
    // Left behind by kill -9; as if it had not been refreshed for a minute.
    const lockDir = join(first.stateDir, 'outbox.log.lockdir');
    mkdirSync(lockDir, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockDir, old, old);
    const restarted = demoAgent(first.stateDir, first.hostname);
    // The production staleness: with the harness's 2 s, a refresh that a loaded machine delays
    // past 2 s makes proper-lockfile call the new lock compromised and the agent exit.
    restarted.agent.start([], { TRIPWIRE_LOCK_STALE_S: '10' });
    await until(
      () => logged(restarted.agent, 'agent started; connecting to the server'),
      60_000,
      'the restarted agent to take the lock',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; it said: ${restarted.agent.output.join('').slice(-2000)}`);
    });
    expect(restarted.agent.running).toBe(true);
    await restarted.agent.stop();
    // Two agents start and register here: on a loaded machine that alone can take 30 s.
  }, 120_000);
});
