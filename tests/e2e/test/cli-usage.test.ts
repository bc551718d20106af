// Every command a person runs answers --help with its usage (stdout, exit 0) and refuses an
// option it does not know with the problem and the usage on stderr (exit 2), never a stack trace
// and never after doing any work. Each CLI runs as a real child process, as a shell would start it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'tripwire-cli-usage-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

interface Cli {
  name: string;
  /** The command line before the arguments under test (paths from the repository root). */
  command: string[];
  /** The first line of its usage. */
  usage: string | RegExp;
}

// tsx from this package's dependencies, as `pnpm <script>` would load it (by path: the CLIs run
// from the repository root, where tsx is not installed).
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const ts = (path: string) => ['node', '--conditions=@tripwire/source', '--import', tsx, path];
const CLIS: Cli[] = [
  {
    name: 'tripwire-agent',
    command: ts('services/agent/src/cli.ts'),
    usage: /^tripwire-agent \S+: watches/,
  },
  {
    name: 'tripwire-agent run',
    command: [...ts('services/agent/src/cli.ts'), 'run'],
    usage: 'tripwire-agent run: watch this host and stream alerts.',
  },
  {
    name: 'tripwire-agent demo',
    command: [...ts('services/agent/src/cli.ts'), 'demo'],
    usage: /^tripwire-agent demo: send synthetic/,
  },
  {
    name: 'fanout token',
    command: ts('services/fanout/src/token-cli.ts'),
    usage: /^usage: token --name/,
  },
  {
    name: 'fanout enrollment',
    command: ts('services/fanout/src/enrollment-cli.ts'),
    usage: /^usage: enrollment <command>/,
  },
  {
    name: 'storage migrate',
    command: ts('packages/storage/src/migrate-cli.ts'),
    usage: /^usage: migrate-cli/,
  },
  {
    name: 'ingest service',
    command: ts('services/ingest/src/main.ts'),
    usage: /^usage: node dist\/main.js {3}\(the ingest/,
  },
  {
    name: 'fan-out service',
    command: ts('services/fanout/src/main.ts'),
    usage: /^usage: node dist\/main.js {3}\(the fan-out/,
  },
  {
    name: 'standalone (pnpm start)',
    command: ts('services/standalone/src/main.ts'),
    usage: /^usage: pnpm start/,
  },
  {
    name: 'bench:dashboard',
    command: ts('services/fanout/bench/dashboard-bench.ts'),
    usage: 'usage: pnpm bench:dashboard',
  },
  {
    name: 'bench:incidents',
    command: ts('services/fanout/bench/incident-bench.ts'),
    usage: 'usage: pnpm bench:incidents',
  },
  {
    name: 'bench:tasks',
    command: ts('services/fanout/bench/task-bench.ts'),
    usage: 'usage: pnpm bench:tasks',
  },
  {
    name: 'bench:backfill',
    command: ts('services/fanout/bench/backfill-bench.ts'),
    usage: 'usage: pnpm --filter @tripwire/fanout bench:backfill',
  },
  {
    name: 'bench:agent',
    command: ts('tests/e2e/bench/agent-bench.ts'),
    usage: 'usage: pnpm bench:agent',
  },
  {
    name: 'bench:agent-patterns',
    command: ts('services/agent/bench/process-pattern-bench.ts'),
    usage: 'usage: pnpm bench:agent-patterns',
  },
  { name: 'chaos', command: ts('tests/chaos/src/chaos-cli.ts'), usage: /^usage: pnpm chaos/ },
  { name: 'fuzz', command: ['node', 'scripts/fuzz.mjs'], usage: /^usage: pnpm fuzz/ },
  {
    name: 'deps:check',
    command: ['node', 'scripts/check-dependency-direction.mjs'],
    usage: /^usage: pnpm deps:check/,
  },
  {
    name: 'proto generate',
    command: ['node', 'packages/proto/scripts/generate.mjs'],
    usage: /^usage: pnpm generate/,
  },
  {
    name: 'package:agent',
    command: ['bash', 'services/agent/packaging/build-package.sh'],
    usage: /^pnpm package:agent: /,
  },
];

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs to its end (or is killed after 60 s: a CLI that ignored the option and started work). */
function run(command: string[], args: string[]): Promise<Outcome> {
  const [file, ...rest] = command as [string, ...string[]];
  const child = spawn(file, [...rest, ...args], {
    cwd: repo,
    env: {
      PATH: process.env.PATH,
      // Where a CLI that wrongly went on would connect or write: nowhere that matters.
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/cli_usage_test',
      REDIS_URL: 'redis://127.0.0.1:1',
      TRIPWIRE_HOME: home,
      OPERATOR_JWT_SECRET: 'x'.repeat(40),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

const firstLine = (text: string) => text.split('\n')[0] ?? '';
const STACK_FRAME = /^\s+at .+\(?.+:\d+:\d+\)?$/m;

describe.concurrent('every CLI: --help and unknown options', { timeout: 90_000 }, () => {
  for (const cli of CLIS) {
    it(`${cli.name} --help: its usage on stdout, exit 0`, async () => {
      const { code, stdout, stderr } = await run(cli.command, ['--help']);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      if (typeof cli.usage === 'string') expect(firstLine(stdout)).toBe(cli.usage);
      else expect(firstLine(stdout)).toMatch(cli.usage);
    });

    it(`${cli.name} --no-such-option: the problem and the usage on stderr, exit 2`, async () => {
      const { code, stdout, stderr } = await run(cli.command, ['--no-such-option']);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toMatch(/'--no-such-option'|--no-such-option/);
      const usageLine = stderr
        .split('\n')
        .find((line) =>
          typeof cli.usage === 'string' ? line === cli.usage : cli.usage.test(line),
        );
      expect(usageLine, `the usage in stderr:\n${stderr}`).toBeDefined();
      expect(stderr).not.toMatch(STACK_FRAME);
    });
  }
});

// A value glued to an option name (`--enroll-tokenS3CRET`, the `=` forgotten) is an unknown
// option whose text is the secret; stderr goes to the journal (the unit) or a CI log.
describe.concurrent('a mistyped secret option: its value stays out of the error', {
  timeout: 90_000,
}, () => {
  const secret = 'S3CRET-enrollment-token-value';
  for (const cli of CLIS.filter((c) => c.name === 'tripwire-agent run')) {
    it(`${cli.name} --enroll-token${secret}: names the option, not its value; exit 2`, async () => {
      const { code, stdout, stderr } = await run(cli.command, [`--enroll-token${secret}`]);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toContain('--enroll-token');
      expect(stderr).not.toContain(secret);
      expect(stderr).not.toContain(secret.slice(0, 6));
    });
  }
  it(`fanout token --name${secret}: the same for every CLI parsed by @tripwire/config`, async () => {
    const token = CLIS.find((c) => c.name === 'fanout token')!;
    const { code, stderr } = await run(token.command, [`--name${secret}`]);
    expect(code).toBe(2);
    expect(stderr).toContain('--name');
    expect(stderr).not.toContain(secret.slice(0, 6));
  });
});
