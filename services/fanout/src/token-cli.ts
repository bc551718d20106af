// Mints an operator token: pnpm --filter @tripwire/fanout token -- --name alice --role admin [--expires 30d]
import { parseArgs } from 'node:util';
import { createOperatorAuth } from './operator-auth.js';

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
if (!values.name || (values.role !== 'viewer' && values.role !== 'admin')) {
  console.error('usage: token --name <operator> --role viewer|admin [--expires 30d]');
  process.exit(2);
}
console.log(await createOperatorAuth(secret).issue(values.name, values.role, values.expires));
