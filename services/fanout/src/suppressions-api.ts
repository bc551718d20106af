import type { BusPublisher } from '@tripwire/bus';
import {
  appendAuditEntry,
  createSuppression,
  expireSuppression,
  getAlertsById,
  getHost,
  getSuppression,
  listSuppressions,
  type Pool,
  type Queryable,
  type Suppression,
  type SuppressionInput,
  updateSuppression,
  withTransaction,
} from '@tripwire/storage';
import {
  DETAIL_MATCH_OPS,
  MAX_ACTIVE_SUPPRESSIONS,
  MAX_RULE_NAME_LENGTH,
  MAX_SUPPRESSION_JUSTIFICATION_LENGTH,
  MAX_SUPPRESSION_MATCHERS,
  MAX_SUPPRESSION_PATH_DEPTH,
  MAX_SUPPRESSION_PATH_SEGMENT_LENGTH,
  MAX_SUPPRESSION_VALUE_LENGTH,
  PRINTABLE_LINE,
  PRINTABLE_TEXT,
  SEVERITIES,
  type SuppressionJson,
  TRIPWIRE_TYPES,
} from '@tripwire/wire';
import { z } from 'zod';
import { parseBody, UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';
import { suppressionDraft } from './suppression-draft.js';

const matcherSchema = z
  .object({
    path: z
      .array(z.string().min(1).max(MAX_SUPPRESSION_PATH_SEGMENT_LENGTH))
      .min(1, 'names at least one key')
      .max(MAX_SUPPRESSION_PATH_DEPTH, `is at most ${MAX_SUPPRESSION_PATH_DEPTH} keys deep`),
    op: z.enum(DETAIL_MATCH_OPS, { message: `must be one of ${DETAIL_MATCH_OPS.join(', ')}` }),
    value: z.string().max(MAX_SUPPRESSION_VALUE_LENGTH),
  })
  .strict();

const suppressionSchema = z
  .object({
    host_id: z.string().regex(UUID, 'must be a host UUID').nullable().default(null),
    rule_name: z
      .string()
      .max(MAX_RULE_NAME_LENGTH)
      .regex(PRINTABLE_LINE, 'must not contain control characters')
      .nullable()
      .default(null),
    tripwire_type: z.enum(TRIPWIRE_TYPES).nullable().default(null),
    severity: z.enum(SEVERITIES).nullable().default(null),
    detail: z
      .array(matcherSchema)
      .max(MAX_SUPPRESSION_MATCHERS, `holds at most ${MAX_SUPPRESSION_MATCHERS} matchers`)
      .default([]),
    justification: z
      .string()
      .trim()
      .min(1, 'is required: say why these alerts may be muted')
      .max(MAX_SUPPRESSION_JUSTIFICATION_LENGTH)
      .regex(PRINTABLE_TEXT, 'must not contain control characters other than newline and tab'),
    expires_at: z.string().datetime({ offset: true }).nullable().default(null),
  })
  .strict();

function parseSuppression(body: unknown): SuppressionInput {
  const s = parseBody(suppressionSchema, body, 'suppression');
  const expiresAt = s.expires_at === null ? null : new Date(s.expires_at);
  if (expiresAt && expiresAt.getTime() <= Date.now())
    throw new ApiError(400, 'validation_failed', 'expires_at must be in the future', {
      expires_at: 'in the past',
    });
  return {
    hostId: s.host_id?.toLowerCase() ?? null,
    ruleName: s.rule_name,
    tripwireType: s.tripwire_type,
    severity: s.severity,
    detail: s.detail,
    justification: s.justification,
    expiresAt,
  };
}

export const suppressionJson = (s: Suppression, now = Date.now()): SuppressionJson => ({
  suppression_id: s.suppressionId,
  host_id: s.hostId,
  rule_name: s.ruleName,
  tripwire_type: s.tripwireType,
  severity: s.severity,
  detail: s.detail,
  justification: s.justification,
  expires_at: s.expiresAt?.toISOString() ?? null,
  created_by: s.createdBy,
  created_at: s.createdAt.toISOString(),
  updated_at: s.updatedAt.toISOString(),
  hit_count: s.hitCount,
  last_hit_at: s.lastHitAt?.toISOString() ?? null,
  active: s.expiresAt === null || s.expiresAt.getTime() > now,
});

function idParam(req: ApiRequest) {
  const id = (req.params[0] ?? '').toLowerCase();
  if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no such suppression');
  return id;
}

async function checkHost(db: Queryable, input: SuppressionInput) {
  if (input.hostId && !(await getHost(db, input.hostId)))
    throw new ApiError(400, 'validation_failed', 'host_id names no registered host', {
      host_id: 'unknown host',
    });
}

/**
 * /api/suppressions: mute rules (docs/suppressions.md). Responders and admins create, edit and
 * expire them (the people who triage alerts; every change is audited in the same transaction
 * with its justification); anyone signed in reads them. Each change is announced on the control
 * stream, which every ingest instance follows to reload its copy.
 */
export function registerSuppressionsApi(
  ctx: RouteContext,
  { pool, publisher }: { pool: Pool; publisher: BusPublisher },
) {
  const announce = (id: string, change: 'created' | 'updated' | 'expired') =>
    publisher.publish([{ type: 'suppressions', data: { suppression_id: id, change } }]);
  const audit = (db: Queryable, req: ApiRequest, action: string, s: Suppression, details = {}) =>
    appendAuditEntry(db, {
      actor: auditActor(req.operator),
      action,
      hostId: s.hostId,
      target: s.suppressionId,
      details: { suppression: suppressionJson(s), ...details },
    });

  route(ctx, 'get', '/api/suppressions', 'any', async ({ query }) => ({
    body: {
      suppressions: (await listSuppressions(pool, { active: query.get('active') === 'true' })).map(
        (s) => suppressionJson(s),
      ),
    },
  }));

  // Registered before /:id, so "draft" is not taken for an id.
  route(ctx, 'get', '/api/suppressions/draft', 'responder', async ({ query }) => {
    const alertId = (query.get('alert_id') ?? '').toLowerCase();
    const [alert] = UUID.test(alertId) ? await getAlertsById(pool, [alertId]) : [];
    if (!alert) throw new ApiError(404, 'not_found', 'no such alert');
    return { body: suppressionDraft(alert) };
  });

  route(ctx, 'get', '/api/suppressions/:id', 'any', async (req) => {
    const s = await getSuppression(pool, idParam(req));
    if (!s) throw new ApiError(404, 'not_found', 'no such suppression');
    return { body: suppressionJson(s) };
  });

  route(ctx, 'post', '/api/suppressions', 'responder', async (req) => {
    const input = parseSuppression(req.body);
    const created = await withTransaction(pool, async (db) => {
      await checkHost(db, input);
      const s = await createSuppression(
        db,
        input,
        auditActor(req.operator),
        MAX_ACTIVE_SUPPRESSIONS,
      );
      if (s) await audit(db, req, 'suppression.create', s);
      return s;
    });
    if (!created)
      throw new ApiError(
        409,
        'limit_reached',
        `at most ${MAX_ACTIVE_SUPPRESSIONS} suppressions may be in force: expire some first`,
      );
    announce(created.suppressionId, 'created');
    return { status: 201, body: suppressionJson(created) };
  });

  route(ctx, 'put', '/api/suppressions/:id', 'responder', async (req) => {
    const id = idParam(req);
    const input = parseSuppression(req.body);
    const after = await withTransaction(pool, async (db) => {
      await checkHost(db, input);
      const before = await getSuppression(db, id);
      const s = before && (await updateSuppression(db, id, input));
      if (s) await audit(db, req, 'suppression.update', s, { before: suppressionJson(before) });
      return s;
    });
    if (!after) throw new ApiError(404, 'not_found', 'no such suppression');
    announce(id, 'updated');
    return { body: suppressionJson(after) };
  });

  route(ctx, 'post', '/api/suppressions/:id/expire', 'responder', async (req) => {
    const id = idParam(req);
    const s = await withTransaction(pool, async (db) => {
      const expired = await expireSuppression(db, id);
      if (expired) await audit(db, req, 'suppression.expire', expired);
      return expired;
    });
    if (!s) throw new ApiError(404, 'not_found', 'no such suppression');
    announce(id, 'expired');
    return { body: suppressionJson(s) };
  });
}
