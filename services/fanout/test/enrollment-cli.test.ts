import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useEnvironment } from './fanout-harness.js';

const env = useEnvironment();
const cli = fileURLToPath(new URL('../src/enrollment-cli.ts', import.meta.url));

/** The CLI as an operator runs it, against this file's database. */
async function run(...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@tripwire/source', '--import', 'tsx', cli, ...args],
      { env: { ...process.env, DATABASE_URL: env.databaseUrl } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('enrollment CLI', () => {
  it('creates (printing the token once), lists and revokes tokens, audited as cli:<user>', async () => {
    const created = await run(
      'create',
      '--name',
      'web',
      '--max-uses',
      '10',
      '--expires',
      '7d',
      '--hostname-pattern',
      'web-*',
    );
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^twe_[A-Za-z0-9_-]{43}$/);
    const id = /created ([0-9a-f-]{36})/.exec(created.stderr)?.[1];
    const listed = await run('list');
    expect(listed.stdout).toContain(`${id}\tactive\t0/10`);
    expect(listed.stdout).not.toContain(token);
    expect((await run('revoke', id!)).stdout).toContain(`revoked ${id}`);
    expect((await run('list')).stdout).toContain(`${id}\trevoked`);
    const { rows } = await env.pool.query(
      'SELECT action, actor FROM audit_entries WHERE target = $1 ORDER BY seq',
      [id],
    );
    expect(rows.map((r) => r.action)).toEqual([
      'enrollment_token.create',
      'enrollment_token.revoke',
    ]);
    expect(rows[0].actor).toMatch(/^cli:/);
  });

  it('explains its usage and refuses bad options with exit code 2', async () => {
    const help = await run('--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('create --name') });
    expect(await run('create', '--name', 'x', '--expires', '5y')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--expires'),
    });
    expect(await run('create', '--name', 'x', '--hostname-pattern', 'a b')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--hostname-pattern'),
    });
    expect((await run('revoke', 'nope')).code).toBe(2);
  });
});
