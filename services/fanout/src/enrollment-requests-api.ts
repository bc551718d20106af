import {
  appendAuditEntry,
  decideEnrollmentRequest,
  type EnrollmentDecision,
  type EnrollmentRequest,
  listOpenEnrollmentRequests,
  type Pool,
  withTransaction,
} from '@tripwire/storage';
import { UUID } from './api-params.js';
import { ApiError, type ApiRequest, type RouteContext, route } from './http-route.js';
import { auditActor } from './operator-auth.js';

const requestJson = (r: EnrollmentRequest) => ({
  enrollment_id: r.requestId,
  host_id: r.hostId,
  hostname: r.hostname,
  platform: r.platform,
  agent_version: r.agentVersion,
  peer: r.peer,
  enrollment_token_id: r.enrollmentTokenId,
  state: r.state,
  attempts: r.attempts,
  requested_at: r.requestedAt.toISOString(),
  last_attempt_at: r.lastAttemptAt.toISOString(),
  expires_at: r.expiresAt.toISOString(),
  decided_at: r.decidedAt?.toISOString() ?? null,
  decided_by: r.decidedBy,
});

/**
 * /api/enrollments: registrations of an existing hostname without proof of being that host,
 * waiting for an admin (docs/security.md, "Agent enrollment"). Approving lets that one requester
 * (the agent holding the enrollment key it sent) take the host over on its next try, which raises
 * a CRITICAL tripwire.re-enrollment alert; denying keeps it refused. Both are audited.
 */
export function registerEnrollmentRequestsApi(
  ctx: RouteContext,
  { pool, approvalTtlS }: { pool: Pool; approvalTtlS: number },
) {
  route(ctx, 'get', '/api/enrollments/pending', 'admin', async () => ({
    body: { enrollments: (await listOpenEnrollmentRequests(pool)).map(requestJson) },
  }));

  const decide = (decision: EnrollmentDecision) => async (req: ApiRequest) => {
    const id = req.params[0] ?? '';
    if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no such enrollment');
    const actor = auditActor(req.operator);
    const result = await withTransaction(pool, async (db) => {
      const r = await decideEnrollmentRequest(db, id, decision, actor, approvalTtlS);
      if (r?.changed)
        await appendAuditEntry(db, {
          actor,
          action: decision === 'approved' ? 'enrollment.approve' : 'enrollment.deny',
          hostId: r.request.hostId,
          target: id,
          details: { enrollment: requestJson(r.request) },
        });
      return r;
    });
    if (!result) throw new ApiError(404, 'not_found', 'no such enrollment (used, or lapsed)');
    if (!result.changed) {
      const lapsed = result.request.state === 'pending';
      throw new ApiError(
        409,
        'enrollment_decided',
        lapsed
          ? 'this enrollment has lapsed; the agent must ask again'
          : `this enrollment was already ${result.request.state} by ${result.request.decidedBy}`,
      );
    }
    return { body: { enrollment: requestJson(result.request) } };
  };
  route(ctx, 'post', '/api/enrollments/:id/approve', 'admin', decide('approved'));
  route(ctx, 'post', '/api/enrollments/:id/deny', 'admin', decide('denied'));
}
