// Mints an operator token: pnpm --filter @tripwire/fanout token -- --name alice --role admin [--expires 12h]
// For automation prefer an API token (POST /api/api-tokens): it is named and revocable one by one.
import { parseArgs } from 'node:util';
import { createOperatorTokens, DEFAULT_TOKEN_MAX_AGE_S, isRole } from '@tripwire/operator-auth';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    role: { type: 'string', default: 'viewer' },
    expires: { type: 'string', default: '30d' },
  },
});
const secret = process.env.OPERATOR_JWT_SECRET;
if (!secret || secret.length < 32) {
  console.error(
    'OPERATOR_JWT_SECRET must be set (at least 32 characters), the same one the fan-out service uses.',
  );
  process.exit(2);
}
if (!values.name || !isRole(values.role)) {
  console.error('usage: token --name <operator> --role viewer|responder|admin [--expires 30d]');
  process.exit(2);
}
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
