import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { modesUnder } from './postgres-wire.js';

const home = mkdtempSync(join(tmpdir(), 'tw-main-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

// What `pnpm start` runs, as a process: the banner a newcomer reads, and a clean SIGTERM.
it('prints the dashboard URL, the tokens and the demo agent command, and stops on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    ['--conditions=@tripwire/source', '--import', 'tsx', 'src/main.ts'],
    {
      cwd: join(import.meta.dirname, '..'),
      env: {
        ...process.env,
        DATABASE_URL: '',
        REDIS_URL: '',
        TRIPWIRE_HOME: home,
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        PORT: '0',
        METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 40_000;
  while (!out.includes('Ctrl-C stops everything')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no banner:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const dashboard = /Dashboard:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
  const grpc = /gRPC for agents:\s+(127\.0\.0\.1:\d+)/.exec(out)?.[1];
  const enrollment = /enrollment token:\s+(twe_\S+)/.exec(out)?.[1];
  expect(dashboard).toBeDefined();
  expect(out).toMatch(/admin token:\s+eyJ\S+/);
  expect(out).toMatch(/PGlite/);
  // The token stays off the agent's command line (`ps` shows that to every user): a 0600 file.
  const tokenFile = join(home, 'enroll-token');
  expect(out).toContain(
    `pnpm --filter @tripwire/agent agent demo --server ${grpc} --insecure --enroll-token-file ${tokenFile} --state-dir .tripwire/demo-agent --rate 5`,
  );
  expect(out).not.toContain(`--enroll-token ${enrollment}`);
  expect(readFileSync(tokenFile, 'utf8')).toBe(`${enrollment}\n`);
  expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  expect((await fetch(dashboard!)).status).toBe(200);
  expect((await fetch(new URL('/readyz', dashboard))).status).toBe(200);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);

  // umask 077 and the sweep after PGlite's first start: nothing the process wrote is open
  // to other local users (PGlite used to leave its files 0666).
  const written = modesUnder(home);
  expect(written.length).toBeGreaterThan(100);
  expect(written.filter((e) => e.mode & 0o077)).toEqual([]);
  expect(written.filter((e) => !e.dir && e.mode !== 0o600)).toEqual([]);
  const { databasePassword } = JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8'));
  expect(out).not.toContain(databasePassword);
});
