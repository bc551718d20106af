import type { BusPublisher } from '@tripwire/bus';
import {
  appendAuditEntry,
  createRule,
  deleteRule,
  getRule,
  listAllRules,
  type Pool,
  type RuleInput,
  updateRule,
  withTransaction,
} from '@tripwire/storage';
import {
  MAX_RULE_NAME_LENGTH,
  MAX_RULE_TARGET_LENGTH,
  PRINTABLE_LINE,
  SEVERITIES,
  TRIPWIRE_TYPES,
} from '@tripwire/wire';
import { z } from 'zod';
import { parseBody, UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

const ruleSchema = z.object({
  host_id: z.string().regex(UUID, 'must be a host UUID').nullable().default(null),
  name: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(MAX_RULE_NAME_LENGTH, `must be at most ${MAX_RULE_NAME_LENGTH} characters`)
    .regex(PRINTABLE_LINE, 'must not contain control characters'),
  tripwire_type: z.enum(TRIPWIRE_TYPES, { message: `must be one of ${TRIPWIRE_TYPES.join(', ')}` }),
  severity: z
    .enum(SEVERITIES, { message: `must be one of ${SEVERITIES.join(', ')}` })
    .default('WARN'),
  target: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(MAX_RULE_TARGET_LENGTH, `must be at most ${MAX_RULE_TARGET_LENGTH} characters`),
  config: z.record(z.string(), z.unknown()).default({}),
  enabled: z.boolean().default(true),
});

function parseRule(body: unknown): RuleInput {
  const r = parseBody(ruleSchema, body, 'rule');
  return {
    hostId: r.host_id,
    name: r.name,
    tripwireType: r.tripwire_type,
    severity: r.severity,
    target: r.target,
    config: r.config,
    enabled: r.enabled,
  };
}

const ruleJson = (r: Awaited<ReturnType<typeof createRule>>) => ({
  rule_id: r.ruleId,
  host_id: r.hostId,
  name: r.name,
  tripwire_type: r.tripwireType,
  severity: r.severity,
  target: r.target,
  config: r.config,
  enabled: r.enabled,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

function ruleIdParam(req: ApiRequest) {
  const id = req.params[0] ?? '';
  if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no such rule');
  return id;
}

/** Maps PostgreSQL constraint violations on rules to field errors. */
function ruleConflict(err: unknown): never {
  const pgErr = err as { code?: string; constraint?: string };
  if (pgErr.code === '23505')
    throw new ApiError(409, 'conflict', 'a rule with this name already exists for this host', {
      name: 'already used',
    });
  if (pgErr.code === '23503')
    throw new ApiError(400, 'validation_failed', 'host_id names no registered host', {
      host_id: 'unknown host',
    });
  throw err;
}

/**
 * /api/rules: tripwire rules (admins change them). Every change is audited in
 * the same transaction and announced on the control stream, which ingest
 * follows to push rules to agents.
 */
export function registerRulesApi(
  ctx: RouteContext,
  { pool, publisher }: { pool: Pool; publisher: BusPublisher },
) {
  const actor = (req: ApiRequest) => auditActor(req.operator);
  const announce = (
    hostId: string | null,
    ruleId: string,
    change: 'created' | 'updated' | 'deleted',
  ) => publisher.publish([{ type: 'rules', data: { host_id: hostId, rule_id: ruleId, change } }]);

  route(ctx, 'get', '/api/rules', 'any', async () => ({
    body: { rules: (await listAllRules(pool)).map(ruleJson) },
  }));

  route(ctx, 'get', '/api/rules/:id', 'any', async (req) => {
    const rule = await getRule(pool, ruleIdParam(req));
    if (!rule) throw new ApiError(404, 'not_found', 'no such rule');
    return { body: ruleJson(rule) };
  });

  route(ctx, 'post', '/api/rules', 'admin', async (req) => {
    const input = parseRule(req.body);
    const rule = await withTransaction(pool, async (db) => {
      const r = await createRule(db, input);
      await appendAuditEntry(db, {
        actor: actor(req),
        action: 'rule.create',
        hostId: r.hostId,
        target: r.ruleId,
        details: { rule: ruleJson(r) },
      });
      return r;
    }).catch(ruleConflict);
    announce(rule.hostId, rule.ruleId, 'created');
    return { status: 201, body: ruleJson(rule) };
  });

  route(ctx, 'put', '/api/rules/:id', 'admin', async (req) => {
    const id = ruleIdParam(req);
    const input = parseRule(req.body);
    const result = await withTransaction(pool, async (db) => {
      const before = await getRule(db, id);
      if (!before) return null;
      const after = await updateRule(db, id, input);
      await appendAuditEntry(db, {
        actor: actor(req),
        action: 'rule.update',
        hostId: after!.hostId,
        target: id,
        details: { before: ruleJson(before), after: ruleJson(after!) },
      });
      return { before, after: after! };
    }).catch(ruleConflict);
    if (!result) throw new ApiError(404, 'not_found', 'no such rule');
    if (result.before.hostId !== result.after.hostId) announce(result.before.hostId, id, 'deleted');
    announce(result.after.hostId, id, 'updated');
    return { body: ruleJson(result.after) };
  });

  route(ctx, 'del', '/api/rules/:id', 'admin', async (req) => {
    const id = ruleIdParam(req);
    const removed = await withTransaction(pool, async (db) => {
      const rule = await getRule(db, id);
      if (!rule || !(await deleteRule(db, id))) return null;
      await appendAuditEntry(db, {
        actor: actor(req),
        action: 'rule.delete',
        hostId: rule.hostId,
        target: id,
        details: { rule: ruleJson(rule) },
      });
      return rule;
    });
    if (!removed) throw new ApiError(404, 'not_found', 'no such rule');
    announce(removed.hostId, id, 'deleted');
    return { status: 204 };
  });
}
