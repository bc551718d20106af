import { listEnrollmentTokens, type Pool } from '@tripwire/storage';
import { z } from 'zod';
import { credentialName, parseBody, UUID } from './api-params.js';
import {
  checkHostnamePattern,
  enrollmentTokenJson,
  issueEnrollmentToken,
  MAX_TOKEN_NAME_LENGTH,
  MAX_TOKEN_USES,
  revokeManagedToken,
} from './enrollment-tokens.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

const MIN_TTL_S = 60;

const tokenSchema = (maxTtlS: number) =>
  z
    .object({
      name: credentialName(MAX_TOKEN_NAME_LENGTH),
      max_uses: z
        .number()
        .int('must be a whole number')
        .min(1, 'must be at least 1')
        .max(MAX_TOKEN_USES, `must be at most ${MAX_TOKEN_USES}`)
        .default(1),
      expires_in_s: z
        .number()
        .int('must be a whole number of seconds')
        .min(MIN_TTL_S, `must be at least ${MIN_TTL_S}`)
        .max(maxTtlS, `must be at most ${maxTtlS} (ENROLLMENT_TOKEN_MAX_TTL_S)`)
        .default(Math.min(7 * 86_400, maxTtlS)),
      hostname_pattern: z
        .string()
        .trim()
        .nullable()
        .default(null)
        .superRefine((p, ctx) => {
          const problem = p ? checkHostnamePattern(p) : null;
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
    })
    .strict();

function tokenIdParam(req: ApiRequest) {
  const id = req.params[0] ?? '';
  if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no such enrollment token');
  return id;
}

/**
 * /api/enrollment-tokens: the enrollment tokens agents register with, admin only. A token is
 * shown once, in the answer that creates it; the server keeps only its hash. Creating and
 * revoking are audited; each use is audited by ingest with the agent's address.
 */
export function registerEnrollmentTokensApi(
  ctx: RouteContext,
  { pool, maxTtlS }: { pool: Pool; maxTtlS: number },
) {
  const schema = tokenSchema(maxTtlS);

  route(ctx, 'get', '/api/enrollment-tokens', 'admin', async () => ({
    body: { tokens: (await listEnrollmentTokens(pool)).map(enrollmentTokenJson) },
  }));

  route(ctx, 'post', '/api/enrollment-tokens', 'admin', async (req) => {
    const input = parseBody(schema, req.body, 'enrollment token');
    const { token, record } = await issueEnrollmentToken(
      pool,
      {
        name: input.name,
        maxUses: input.max_uses,
        expiresInS: input.expires_in_s,
        hostnamePattern: input.hostname_pattern || null,
      },
      auditActor(req.operator),
    );
    return { status: 201, body: { ...enrollmentTokenJson(record), token } };
  });

  route(ctx, 'del', '/api/enrollment-tokens/:id', 'admin', async (req) => {
    const token = await revokeManagedToken(pool, tokenIdParam(req), auditActor(req.operator));
    if (!token) throw new ApiError(404, 'not_found', 'no such enrollment token');
    return { body: enrollmentTokenJson(token) };
  });
}
