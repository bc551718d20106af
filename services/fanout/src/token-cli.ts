// Mints an operator token: pnpm --filter @tripwire/fanout token -- --name alice --role admin [--expires 12h]
// For automation prefer an API token (POST /api/api-tokens): it is named and revocable one by one.
import { exitWithUsage, parseCommandLine } from '@tripwire/config';
import { createOperatorTokens, DEFAULT_TOKEN_MAX_AGE_S, isRole } from '@tripwire/operator-auth';

const USAGE = `usage: token --name <operator> [--role viewer|responder|admin] [--expires 30d]

Prints a signed operator token (a JWT) for the dashboard and the REST API.
  --name <operator>   who the token is for (required)
  --role <role>       viewer (default), responder or admin
  --expires <span>    lifetime: 30m, 12h, 30d (default 30d; at most OPERATOR_TOKEN_MAX_AGE_S)

Environment: OPERATOR_JWT_SECRET (required, the fan-out's), OPERATOR_TOKEN_MAX_AGE_S.
For automation prefer an API token (POST /api/api-tokens): named and revocable one by one.`;

const { values } = parseCommandLine({
  usage: USAGE,
  options: {
    name: { type: 'string' },
    role: { type: 'string', default: 'viewer' },
    expires: { type: 'string', default: '30d' },
  },
});
const secret = process.env.OPERATOR_JWT_SECRET;
if (!secret || secret.length < 32)
  exitWithUsage(
    USAGE,
    'OPERATOR_JWT_SECRET must be set (at least 32 characters), the same one the fan-out service uses.',
  );
if (!values.name) exitWithUsage(USAGE, '--name is required');
if (!isRole(values.role)) exitWithUsage(USAGE, `--role: "${values.role}" is not a role`);
// The servers refuse a token that lives longer than OPERATOR_TOKEN_MAX_AGE_S: say so now, not at first use.
const maxAgeS = Number(process.env.OPERATOR_TOKEN_MAX_AGE_S || DEFAULT_TOKEN_MAX_AGE_S);
const tokens = createOperatorTokens(secret, maxAgeS);
let token: string;
try {
  token = await tokens.issue(values.name, values.role, values.expires);
  await tokens.verify(token);
} catch (err) {
  console.error(`cannot mint that token: ${(err as Error).message}`);
  process.exit(2);
}
console.log(token);
