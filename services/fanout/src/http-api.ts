import type { BusPublisher } from '@tripwire/bus';
import type { Pool, TaskLimits } from '@tripwire/storage';
import { registerAlertsApi } from './alerts-api.js';
import { registerApiTokensApi } from './api-tokens-api.js';
import { registerAuditApi } from './audit-api.js';
import { registerEnrollmentRequestsApi } from './enrollment-requests-api.js';
import { registerEnrollmentTokensApi } from './enrollment-tokens-api.js';
import { createExporter, type ExportLimits, type ExportMetrics } from './exporter.js';
import { registerHostTasksApi } from './host-tasks-api.js';
import { registerHostsApi } from './hosts-api.js';
import type { RouteContext } from './http-route.js';
import { registerIncidentApi } from './incident-api.js';
import { registerNotificationsApi } from './notifications-api.js';
import { type OidcApiDeps, registerOidcApi } from './oidc-api.js';
import { registerOperatorSessionsApi } from './operator-sessions-api.js';
import { registerRulesApi } from './rules-api.js';
import { registerSessionApi } from './session-api.js';
import { registerStatsApi } from './stats-api.js';
import { registerSuppressionsApi } from './suppressions-api.js';
import { registerTasksApi } from './tasks-api.js';

export interface ApiDeps {
  pool: Pool;
  /** The control stream: rule changes (ingest follows it). */
  publisher: BusPublisher;
  /** The events stream: incident changes for browsers (they also go on control, for ingest). */
  eventsPublisher: BusPublisher;
  cookieSecure: boolean;
  /** Operator sessions, API tokens and the audit check's limits (configuration.md). */
  identity: IdentityLimits;
  /** Single sign-on (oidc-api.ts): its settings, or null for sign-in by token only. */
  oidc: Omit<OidcApiDeps, 'pool' | 'cookieSecure' | 'sessionMaxAgeS'>;
  /** ENROLLMENT_TOKEN_MAX_TTL_S and ENROLLMENT_APPROVAL_TTL_S. */
  enrollment: { tokenMaxTtlS: number; approvalTtlS: number };
  /** Response actions: storage's bounds and TASKS_SHELL_APPROVAL. */
  tasks: { limits: TaskLimits; shellApproval: boolean };
  /** Exports (EXPORT_*) and their counters. */
  exports: { limits: ExportLimits; metrics: ExportMetrics };
}

export interface IdentityLimits {
  sessionMaxAgeS: number;
  signInsPerMinute: number;
  auditVerifiesPerMinute: number;
  apiTokenMaxAgeDays: number;
}

/** The REST API, one resource per file; documented in services/fanout/openapi.yaml. */
export function registerApi(
  ctx: RouteContext,
  {
    pool,
    publisher,
    eventsPublisher,
    cookieSecure,
    identity,
    oidc,
    enrollment,
    tasks,
    exports,
  }: ApiDeps,
) {
  const exporter = createExporter({ pool, ...exports, report: ctx.report });
  registerAlertsApi(ctx, { pool, exporter });
  registerHostsApi(ctx, { pool });
  registerStatsApi(ctx, { pool });
  registerRulesApi(ctx, { pool, publisher });
  registerSuppressionsApi(ctx, { pool, publisher });
  registerIncidentApi(ctx, { pool, publishers: [eventsPublisher, publisher], exporter });
  registerAuditApi(ctx, { pool, verifiesPerMinute: identity.auditVerifiesPerMinute, exporter });
  registerSessionApi(ctx, {
    pool,
    cookieSecure,
    maxAgeS: identity.sessionMaxAgeS,
    signInsPerMinute: identity.signInsPerMinute,
  });
  registerOperatorSessionsApi(ctx, { pool });
  registerApiTokensApi(ctx, { pool, maxAgeDays: identity.apiTokenMaxAgeDays });
  registerOidcApi(ctx, { pool, cookieSecure, sessionMaxAgeS: identity.sessionMaxAgeS, ...oidc });
  registerEnrollmentTokensApi(ctx, { pool, maxTtlS: enrollment.tokenMaxTtlS });
  registerEnrollmentRequestsApi(ctx, { pool, approvalTtlS: enrollment.approvalTtlS });
  registerHostTasksApi(ctx, { pool, eventsPublisher, ...tasks });
  registerTasksApi(ctx, { pool, eventsPublisher });
  registerNotificationsApi(ctx, { pool });
}
