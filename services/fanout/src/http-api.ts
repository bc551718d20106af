import type { BusPublisher } from '@tripwire/bus';
import {
  appendAuditEntry,
  countAlertsPerHost,
  countAlertsPerMinute,
  createRule,
  databaseNow,
  deleteRule,
  getAlertsById,
  getRule,
  InvalidQueryError,
  listAllRules,
  listHosts,
  type Pool,
  queryAlerts,
  queryAuditEntries,
  type RuleInput,
  type Severity,
  type TripwireType,
  updateRule,
  verifyAuditChain,
  withTransaction,
} from '@tripwire/storage';
import { z } from 'zod';
import { alertJson } from './alert-json.js';
import { hostParam, listParam, parseBody, UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { registerIncidentApi } from './incident-api.js';
import { auditActor, SESSION_COOKIE } from './operator-auth.js';
import { SEVERITIES, TRIPWIRE_TYPES } from './subscription-filter.js';

const DAY_MS = 24 * 3600 * 1000;
const MINUTE_MS = 60_000;
const MAX_STATS_MINUTES = 1440;

function timeRange(query: URLSearchParams) {
  const parse = (name: string, fallback: Date) => {
    const raw = query.get(name);
    if (!raw) return fallback;
    const d = new Date(raw);
    if (Number.isNaN(d.getTime()))
      throw new ApiError(400, 'invalid_parameter', `${name} must be an ISO 8601 time`, {
        [name]: 'not a time',
      });
    return d;
  };
  const to = parse('to', new Date(Date.now() + 60_000));
  const from = parse('from', new Date(to.getTime() - DAY_MS));
  if (from > to)
    throw new ApiError(400, 'invalid_parameter', 'from must not be after to', { from: 'after to' });
  return { from, to };
}

/** `minutes`: a whole number from 1 to 1440, default 60. */
function minutesParam(query: URLSearchParams) {
  const raw = query.get('minutes');
  if (raw === null || raw === '') return 60;
  const integer = /^-?\d{1,9}$/.test(raw);
  const minutes = Number(raw);
  if (!integer || minutes < 1 || minutes > MAX_STATS_MINUTES)
    throw new ApiError(
      400,
      'invalid_parameter',
      `minutes must be an integer from 1 to ${MAX_STATS_MINUTES}`,
      { minutes: integer ? 'out of range' : 'not an integer' },
    );
  return minutes;
}

const ruleSchema = z.object({
  host_id: z.string().regex(UUID, 'must be a host UUID').nullable().default(null),
  name: z.string().trim().min(1, 'is required').max(128, 'must be at most 128 characters'),
  tripwire_type: z.enum(TRIPWIRE_TYPES, { message: `must be one of ${TRIPWIRE_TYPES.join(', ')}` }),
  severity: z
    .enum(SEVERITIES, { message: `must be one of ${SEVERITIES.join(', ')}` })
    .default('WARN'),
  target: z.string().trim().min(1, 'is required').max(1024, 'must be at most 1024 characters'),
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

export interface ApiDeps {
  pool: Pool;
  /** The control stream: rule changes (ingest follows it). */
  publisher: BusPublisher;
  /** The events stream: incident changes for browsers (they also go on control, for ingest). */
  eventsPublisher: BusPublisher;
  cookieSecure: boolean;
}

/** The REST API; documented in services/fanout/openapi.yaml. */
export function registerApi(
  ctx: RouteContext,
  { pool, publisher, eventsPublisher, cookieSecure }: ApiDeps,
) {
  const actor = (req: ApiRequest) => auditActor(req.operator);
  const announce = (
    hostId: string | null,
    ruleId: string,
    change: 'created' | 'updated' | 'deleted',
  ) => publisher.publish([{ type: 'rules', data: { host_id: hostId, rule_id: ruleId, change } }]);

  route(ctx, 'get', '/api/alerts', 'any', async ({ query }) => {
    const limitRaw = query.get('limit');
    try {
      const page = await queryAlerts(pool, {
        ...timeRange(query),
        hostId: hostParam(query),
        severities: listParam(query, 'severity', SEVERITIES) as never,
        tripwireTypes: listParam(query, 'type', TRIPWIRE_TYPES) as never,
        limit: limitRaw === null ? 100 : Number(limitRaw),
        cursor: query.get('cursor') ?? undefined,
      });
      return {
        body: {
          alerts: page.alerts.map(alertJson),
          next_cursor: page.nextCursor,
        },
      };
    } catch (err) {
      if (err instanceof InvalidQueryError)
        throw new ApiError(400, 'invalid_parameter', err.message);
      throw err;
    }
  });

  route(ctx, 'get', '/api/alerts/:id', 'any', async ({ params }) => {
    const id = (params[0] ?? '').toLowerCase();
    const [a] = UUID.test(id) ? await getAlertsById(pool, [id]) : [];
    if (!a) throw new ApiError(404, 'not_found', 'no such alert');
    return { body: alertJson(a) };
  });

  route(ctx, 'get', '/api/hosts', 'any', async () => {
    const [hosts, alerts24h] = await Promise.all([
      listHosts(pool),
      countAlertsPerHost(pool, new Date(Date.now() - DAY_MS)),
    ]);
    return {
      body: {
        hosts: hosts.map((h) => ({
          host_id: h.hostId,
          hostname: h.hostname,
          status: h.status,
          platform: h.platform,
          agent_version: h.agentVersion,
          registered_at: h.registeredAt.toISOString(),
          last_seen: h.lastSeen?.toISOString() ?? null,
          status_version: h.statusVersion,
          alerts_24h: alerts24h.get(h.hostId) ?? 0,
        })),
      },
    };
  });

  // For the dashboard's chart: the last `minutes` whole minutes, the current (partial) one last.
  route(ctx, 'get', '/api/stats/alerts-per-minute', 'any', async ({ query }) => {
    const minutes = minutesParam(query);
    const hostId = hostParam(query);
    const severities = listParam(query, 'severity', SEVERITIES) as Severity[];
    const tripwireTypes = listParam(query, 'type', TRIPWIRE_TYPES) as TripwireType[];
    const to = (Math.floor(Date.now() / MINUTE_MS) + 1) * MINUTE_MS;
    const from = to - minutes * MINUTE_MS;
    // Counted up to now on the database's clock, the one received_at comes from: a chart that
    // goes on counting live alerts received from counted_up_to on counts none twice.
    const countedUpTo = new Date(Math.min((await databaseNow(pool)).getTime(), to));
    const buckets = await countAlertsPerMinute(pool, {
      from: new Date(from),
      to: new Date(to),
      receivedBefore: countedUpTo,
      hostId,
      severities,
      tripwireTypes,
    });
    return {
      body: {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        counted_up_to: countedUpTo.toISOString(),
        buckets: buckets.map((b) => ({ minute: b.minute.toISOString(), ...b.counts })),
      },
    };
  });

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

  registerIncidentApi(ctx, { pool, publishers: [eventsPublisher, publisher] });

  route(ctx, 'get', '/api/audit', 'any', async ({ query }) => {
    const limit = Number(query.get('limit') ?? 500);
    if (!Number.isInteger(limit) || limit < 1 || limit > 5000) {
      throw new ApiError(400, 'invalid_parameter', 'limit must be an integer from 1 to 5000', {
        limit: 'out of range',
      });
    }
    const entries = await queryAuditEntries(pool, {
      ...timeRange(query),
      hostId: hostParam(query),
      limit,
    });
    return {
      body: {
        entries: entries.map((e) => ({
          seq: e.seq,
          occurred_at: e.occurredAt.toISOString(),
          actor: e.actor,
          action: e.action,
          host_id: e.hostId,
          target: e.target,
          details: e.details,
          prev_hash: e.prevHash,
          hash: e.hash,
        })),
      },
    };
  });

  route(ctx, 'get', '/api/audit/verify', 'any', async () => {
    const v = await verifyAuditChain(pool);
    return { body: { ok: v.ok, checked: v.checked, broken_at: v.brokenAt, reason: v.reason } };
  });

  // Sign-in for the dashboard: the token goes into an HttpOnly cookie, never into page storage.
  route(
    ctx,
    'post',
    '/api/session',
    'any',
    async (req) => {
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string')
        throw new ApiError(400, 'validation_failed', 'token is required', { token: 'is required' });
      const operator = await ctx.auth.verify(token);
      await appendAuditEntry(pool, {
        actor: auditActor(operator),
        action: 'session.create',
        details: { role: operator.role },
      });
      const attributes = `HttpOnly; SameSite=Strict; Path=/; Max-Age=${30 * 24 * 3600}${cookieSecure ? '; Secure' : ''}`;
      return {
        body: { name: operator.name, role: operator.role },
        headers: { 'set-cookie': `${SESSION_COOKIE}=${encodeURIComponent(token)}; ${attributes}` },
      };
    },
    { authenticate: false },
  );

  route(ctx, 'get', '/api/session', 'any', async (req) => ({
    body: { name: req.operator.name, role: req.operator.role },
  }));

  route(
    ctx,
    'del',
    '/api/session',
    'any',
    async () => ({
      status: 204,
      headers: { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` },
    }),
    { authenticate: false },
  );
}
