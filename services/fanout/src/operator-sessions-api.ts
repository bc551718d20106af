import {
  appendAuditEntry,
  type Pool,
  revokeOperatorAccess,
  withTransaction,
} from '@tripwire/storage';
import { PRINTABLE_LINE } from '@tripwire/wire';
import { ApiError, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

/** Longer than any operator name a token may carry that anyone would type. */
const MAX_OPERATOR_NAME_LENGTH = 256;

/**
 * DELETE /api/operators/{name}/sessions (admin): "revoke all of operator X". Every session of X
 * ends and every operator JWT for X issued until now is refused, on every fan-out and ingest
 * instance at the next request (each reads PostgreSQL); their open WebSockets close within
 * WS_CREDENTIAL_RECHECK_MS. API tokens are separate objects, revoked one by one.
 */
export function registerOperatorSessionsApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  route(ctx, 'del', '/api/operators/:name/sessions', 'admin', async (req) => {
    const name = decodeName(req.params[0] ?? '');
    const revoked = await withTransaction(pool, async (db) => {
      const count = await revokeOperatorAccess(db, name);
      await appendAuditEntry(db, {
        actor: auditActor(req.operator),
        action: 'operator.sessions_revoke',
        target: name,
        details: { sessions_revoked: count },
      });
      return count;
    });
    return {
      body: {
        operator: name,
        sessions_revoked: revoked,
        tokens_revoked_before: new Date().toISOString(),
      },
    };
  });
}

function decodeName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    name = '';
  }
  if (!name || name.length > MAX_OPERATOR_NAME_LENGTH || !PRINTABLE_LINE.test(name)) {
    throw new ApiError(
      400,
      'invalid_parameter',
      `name must be an operator name of 1 to ${MAX_OPERATOR_NAME_LENGTH} printable characters`,
      { name: 'invalid' },
    );
  }
  return name;
}
