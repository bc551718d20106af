// Manages enrollment tokens from a shell with access to PostgreSQL (DATABASE_URL):
//   pnpm --filter @tripwire/fanout enrollment -- create --name web --max-uses 10 --expires 7d [--hostname-pattern 'web-*']
//   pnpm --filter @tripwire/fanout enrollment -- list
//   pnpm --filter @tripwire/fanout enrollment -- revoke <token-id>
import { userInfo } from 'node:os';
import { exitWithUsage, parseCommandLine } from '@tripwire/config';
import { createPool, listEnrollmentTokens } from '@tripwire/storage';
import {
  checkHostnamePattern,
  enrollmentTokenJson,
  issueEnrollmentToken,
  MAX_TOKEN_USES,
  revokeManagedToken,
} from './enrollment-tokens.js';

const USAGE = `usage: enrollment <command> [options]   (needs DATABASE_URL)
       enrollment --help

  create --name <name> [--max-uses 1] [--expires 7d] [--hostname-pattern 'web-*']
         prints the token once; only its hash is stored. --expires: 30m, 12h, 7d (at most 365d)
  list   every token: id, name, status, uses, expiry, hostname pattern
  revoke <token-id>
         agents can no longer enroll with it (hosts it enrolled keep their agent tokens)

Every change is audited as cli:<your user name>.`;

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

function fail(message: string): never {
  exitWithUsage(USAGE, message);
}

function durationS(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  const s = m ? Number(m[1]) * UNIT_S[m[2]!]! : Number.NaN;
  if (!(s >= 60 && s <= 365 * 86_400)) fail(`--expires: "${text}" is not a duration of 1m to 365d`);
  return s;
}

const { values, positionals } = parseCommandLine({
  usage: USAGE,
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    'max-uses': { type: 'string', default: '1' },
    expires: { type: 'string', default: '7d' },
    'hostname-pattern': { type: 'string' },
  },
});
const [command, ...rest] = positionals;
if (!command) fail('a command is required: create, list or revoke');
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) fail('DATABASE_URL must be set (the database the services use)');
const actor = `cli:${userInfo().username}`;
const pool = createPool({ databaseUrl, onIdleError: () => {} });
try {
  if (command === 'create') {
    const name = values.name?.trim();
    if (!name || name.length > 100) fail('--name is required (at most 100 characters)');
    const maxUses = Number(values['max-uses']);
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_TOKEN_USES)
      fail(`--max-uses must be a whole number from 1 to ${MAX_TOKEN_USES}`);
    const pattern = values['hostname-pattern'] ?? null;
    const problem = pattern === null ? null : checkHostnamePattern(pattern);
    if (problem) fail(`--hostname-pattern ${problem}`);
    const { token, record } = await issueEnrollmentToken(
      pool,
      { name, maxUses, expiresInS: durationS(values.expires), hostnamePattern: pattern },
      actor,
    );
    console.error(
      `created ${record.tokenId} "${name}": ${maxUses} use(s), expires ${record.expiresAt.toISOString()}` +
        `${pattern ? `, hostnames ${pattern}` : ''}. The token (shown once; keep it secret):`,
    );
    console.log(token);
  } else if (command === 'list') {
    for (const t of (await listEnrollmentTokens(pool)).map(enrollmentTokenJson))
      console.log(
        [
          t.token_id,
          t.status,
          `${t.uses}/${t.max_uses}`,
          t.expires_at,
          t.hostname_pattern ?? '*',
          t.name,
        ].join('\t'),
      );
  } else if (command === 'revoke') {
    const [id] = rest;
    if (!id || !/^[0-9a-f-]{36}$/i.test(id)) fail('revoke needs a token id (see list)');
    const token = await revokeManagedToken(pool, id, actor);
    if (!token) fail(`no enrollment token ${id}`);
    console.log(`revoked ${id} "${token.name}"`);
  } else fail(`unknown command "${command}"`);
} finally {
  await pool.end();
}
