import {
  type FinalState,
  INCIDENT_STATES,
  type IncidentNote,
  type IncidentState,
  isFinalState,
  RESOLUTION_METHODS,
  type ResolutionMethod,
  SEVERITIES,
  type Severity,
  TRIPWIRE_TYPES,
  type TripwireType,
} from '@tripwire/wire';
import { ALERT_COLUMNS, type AlertRow, toAlert } from './alert-store.js';
import { appendAuditEntry } from './audit-log.js';
import { assertTransition } from './incident-states.js';
import type { Alert, Incident } from './models.js';
import { type Pool, type Queryable, withTransaction } from './pool.js';
import { type RowSelector, selectorCondition } from './resume-backfill.js';
import { mapBatches, type RowCursorOptions, streamRows } from './row-cursor.js';

export class IncidentNotFoundError extends Error {
  override name = 'IncidentNotFoundError';
  constructor(readonly incidentId: string) {
    super(`no incident ${incidentId}`);
  }
}

/** The caller's expectedVersion is stale: someone changed the incident since it was read. */
export class IncidentConflictError extends Error {
  override name = 'IncidentConflictError';
  constructor(
    readonly incidentId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(
      `incident ${incidentId} is at version ${actualVersion}, not ${expectedVersion}: reload it and retry`,
    );
  }
}

/** A request that cannot be applied as given (missing field, bad value). */
export class IncidentValidationError extends Error {
  override name = 'IncidentValidationError';
}

/** Who made a change; every change is audited under this name. */
export interface IncidentActor {
  actor: string;
  /** Refuse the change unless the incident is still at this version. */
  expectedVersion?: number;
}

interface IncidentRow {
  incident_id: string;
  host_id: string;
  hostname: string;
  rule_name: string;
  tripwire_type: TripwireType;
  state: IncidentState;
  max_severity: Severity;
  alert_count: string;
  first_seen: Date;
  last_seen: Date;
  assignee: string | null;
  notes: IncidentNote[];
  resolution_method: ResolutionMethod | null;
  root_cause: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
  version: number;
}

const toIncident = (r: IncidentRow): Incident => ({
  incidentId: r.incident_id,
  hostId: r.host_id,
  hostname: r.hostname,
  ruleName: r.rule_name,
  tripwireType: r.tripwire_type,
  state: r.state,
  maxSeverity: r.max_severity,
  alertCount: Number(r.alert_count),
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  assignee: r.assignee,
  notes: r.notes,
  resolutionMethod: r.resolution_method,
  rootCause: r.root_cause,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  resolvedAt: r.resolved_at,
  version: r.version,
});

/** Incidents with their host's name ('' if the host row is gone: there is no foreign key). */
const SELECT_INCIDENTS =
  "SELECT incidents.*, coalesce(hosts.hostname, '') AS hostname FROM incidents LEFT JOIN hosts ON hosts.host_id = incidents.host_id";
const RETURNING_INCIDENT =
  "*, coalesce((SELECT hostname FROM hosts WHERE hosts.host_id = incidents.host_id), '') AS hostname";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkId(incidentId: string): void {
  if (!UUID.test(incidentId)) throw new IncidentValidationError('incident id must be a UUID');
}

function checkActor(actor: string): void {
  if (typeof actor !== 'string' || actor.trim() === '') {
    throw new IncidentValidationError('every incident change needs an actor');
  }
}

function checkPaging(limit: number, offset: number, max: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new IncidentValidationError(`limit must be an integer from 1 to ${max}`);
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new IncidentValidationError('offset must be a non-negative integer');
  }
}

function checkOneOf<T extends string>(what: string, values: readonly T[], value: unknown): T {
  if (!values.includes(value as T)) {
    throw new IncidentValidationError(`${what} must be one of ${values.join(', ')}`);
  }
  return value as T;
}

export async function getIncident(db: Queryable, incidentId: string): Promise<Incident | null> {
  checkId(incidentId);
  const { rows } = await db.query<IncidentRow>(
    `${SELECT_INCIDENTS} WHERE incidents.incident_id = $1`,
    [incidentId],
  );
  return rows[0] ? toIncident(rows[0]) : null;
}

/** These incidents as they stand now (for bus messages after an ingest flush); unknown ids are skipped. */
export async function getIncidents(db: Queryable, incidentIds: string[]): Promise<Incident[]> {
  if (incidentIds.length === 0) return [];
  const { rows } = await db.query<IncidentRow>(
    `${SELECT_INCIDENTS} WHERE incidents.incident_id = ANY($1::uuid[])`,
    [incidentIds],
  );
  return rows.map(toIncident);
}

export interface IncidentQuery {
  states?: IncidentState[];
  severities?: Severity[];
  hostId?: string;
  /** Any of these hosts (with hostId: that one too). */
  hostIds?: string[];
  tripwireTypes?: TripwireType[];
  /** Only incidents active in [from, to): last_seen at or after `from`, first_seen before `to`. */
  from?: Date;
  to?: Date;
  /** 1..500, default 50. */
  limit?: number;
  offset?: number;
}

export interface IncidentPage {
  /** Highest severity first, then most recent last_seen. */
  incidents: Incident[];
  /** How many incidents match, over all pages. */
  total: number;
}

/** The WHERE clause and parameters for an incident query's filters; validates them. */
function incidentFilter(query: IncidentQuery): { filter: string; params: unknown[] } {
  const params: unknown[] = [];
  const where: string[] = [];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (query.states?.length) {
    for (const s of query.states) checkOneOf('state', INCIDENT_STATES, s);
    add((p) => `incidents.state = ANY(${p}::incident_state[])`, query.states);
  }
  if (query.severities?.length) {
    for (const s of query.severities) checkOneOf('severity', SEVERITIES, s);
    add((p) => `incidents.max_severity = ANY(${p}::severity_level[])`, query.severities);
  }
  const hostIds = [...(query.hostId ? [query.hostId] : []), ...(query.hostIds ?? [])];
  if (hostIds.length) {
    if (!hostIds.every((id) => UUID.test(id)))
      throw new IncidentValidationError('hostId must be a UUID');
    add((p) => `incidents.host_id = ANY(${p}::uuid[])`, hostIds);
  }
  if (query.tripwireTypes?.length) {
    for (const t of query.tripwireTypes) checkOneOf('tripwireType', TRIPWIRE_TYPES, t);
    add((p) => `incidents.tripwire_type = ANY(${p}::tripwire_type[])`, query.tripwireTypes);
  }
  if (query.from) add((p) => `incidents.last_seen >= ${p}`, query.from);
  if (query.to) add((p) => `incidents.first_seen < ${p}`, query.to);
  return { filter: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

const INCIDENT_ORDER =
  'ORDER BY incidents.max_severity DESC, incidents.last_seen DESC, incidents.incident_id DESC';

export async function listIncidents(
  db: Queryable,
  query: IncidentQuery = {},
): Promise<IncidentPage> {
  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  checkPaging(limit, offset, 500);
  const { filter, params } = incidentFilter(query);
  const [page, count] = await Promise.all([
    db.query<IncidentRow>(
      `${SELECT_INCIDENTS} ${filter} ${INCIDENT_ORDER}
       LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, offset],
    ),
    db.query<{ total: string }>(`SELECT count(*) AS total FROM incidents ${filter}`, params),
  ]);
  return { incidents: page.rows.map(toIncident), total: Number(count.rows[0]!.total) };
}

/**
 * Every incident a query matches (no paging), in the list's order, in batches from a
 * server-side cursor: for exports. Filters are checked here (IncidentValidationError).
 */
export function streamIncidents(
  pool: Pool,
  query: Omit<IncidentQuery, 'limit' | 'offset'>,
  options: RowCursorOptions,
): AsyncGenerator<Incident[], void, undefined> {
  const { filter, params } = incidentFilter(query);
  const rows = streamRows<IncidentRow>(
    pool,
    `${SELECT_INCIDENTS} ${filter} ${INCIDENT_ORDER}`,
    params,
    options,
  );
  return mapBatches(rows, toIncident);
}

export interface IncidentAlertQuery {
  /** Only these severities, e.g. ['CRITICAL'] to see every critical alert of a storm. */
  severities?: Severity[];
  /** 1..1000, default 100. */
  limit?: number;
  offset?: number;
}

export interface IncidentAlertPage {
  /** Newest first. */
  alerts: Alert[];
  /** How many of the incident's alerts match, over all pages. */
  total: number;
}

/** Every raw alert of an incident stays here, however many were grouped. */
export async function listIncidentAlerts(
  db: Queryable,
  incidentId: string,
  query: IncidentAlertQuery = {},
): Promise<IncidentAlertPage> {
  const limit = query.limit ?? 100;
  const offset = query.offset ?? 0;
  checkPaging(limit, offset, 1000);
  const incident = await getIncident(db, incidentId);
  if (!incident) throw new IncidentNotFoundError(incidentId);
  // The incident's first and last seen bound received_at, so PostgreSQL reads only those months.
  // Dates hold milliseconds and PostgreSQL microseconds: both bounds are widened by 1 ms.
  const params: unknown[] = [
    incidentId,
    new Date(incident.firstSeen.getTime() - 1),
    new Date(incident.lastSeen.getTime() + 1),
  ];
  let filter = 'a.incident_id = $1 AND a.received_at >= $2 AND a.received_at < $3';
  if (query.severities?.length) {
    for (const s of query.severities) checkOneOf('severity', SEVERITIES, s);
    params.push(query.severities);
    filter += ` AND a.severity = ANY($4::severity_level[])`;
  }
  const [page, count] = await Promise.all([
    db.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerts a WHERE ${filter}
       ORDER BY a.received_at DESC, a.alert_id DESC
       LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, offset],
    ),
    db.query<{ total: string }>(`SELECT count(*) AS total FROM alerts a WHERE ${filter}`, params),
  ]);
  return { alerts: page.rows.map(toAlert), total: Number(count.rows[0]!.total) };
}

export interface NewIncident {
  hostId: string;
  ruleName?: string;
  tripwireType: TripwireType;
  severity: Severity;
  assignee?: string | null;
  note?: string;
}

/**
 * An incident opened by an operator. It is OPEN, has no alerts yet, and
 * collects alerts for its host, rule and type like one opened by ingest.
 */
export async function createIncident(
  pool: Pool,
  input: NewIncident,
  { actor }: IncidentActor,
): Promise<Incident> {
  checkActor(actor);
  if (!UUID.test(input.hostId)) throw new IncidentValidationError('hostId must be a UUID');
  const tripwireType = checkOneOf('tripwireType', TRIPWIRE_TYPES, input.tripwireType);
  const severity = checkOneOf('severity', SEVERITIES, input.severity);
  const ruleName = input.ruleName ?? '';
  return withTransaction(pool, async (db) => {
    const host = await db.query('SELECT 1 FROM hosts WHERE host_id = $1', [input.hostId]);
    if (host.rowCount === 0) throw new IncidentValidationError(`no host ${input.hostId}`);
    await db.query('SELECT lock_incident_key($1, $2, $3)', [input.hostId, tripwireType, ruleName]);
    const notes = input.note
      ? [{ author: actor, at: new Date().toISOString(), text: input.note }]
      : [];
    const { rows } = await db.query<IncidentRow>(
      `INSERT INTO incidents (host_id, rule_name, tripwire_type, max_severity, first_seen, last_seen,
         assignee, notes, created_by)
       VALUES ($1, $2, $3, $4, now(), now(), $5, $6::jsonb, $7) RETURNING ${RETURNING_INCIDENT}`,
      [
        input.hostId,
        ruleName,
        tripwireType,
        severity,
        input.assignee ?? null,
        JSON.stringify(notes),
        actor,
      ],
    );
    const incident = toIncident(rows[0]!);
    await appendAuditEntry(db, {
      actor,
      action: 'incident.create',
      hostId: incident.hostId,
      target: incident.incidentId,
      details: { after: auditView(incident) },
    });
    return incident;
  });
}

export interface IncidentChanges {
  state?: IncidentState;
  /** null unassigns. */
  assignee?: string | null;
  /** Appended to the notes, with the actor as author. */
  note?: string;
  /** Required (with rootCause) to enter RESOLVED or FALSE_POSITIVE, refused otherwise. */
  resolutionMethod?: ResolutionMethod;
  rootCause?: string;
}

/** The fields an audit entry records before and after a change. */
function auditView(i: Incident) {
  return {
    state: i.state,
    assignee: i.assignee,
    resolution_method: i.resolutionMethod,
    root_cause: i.rootCause,
    notes: i.notes.length,
    version: i.version,
  };
}

/**
 * Applies an operator's change: a state transition (only those in
 * INCIDENT_TRANSITIONS; InvalidTransitionError otherwise), an assignee, a note.
 * Holds the incident's correlation key lock, so no ingest flush adds alerts to
 * it halfway through a transition. Writes one audit entry with the actor and
 * the fields before and after, in the same transaction.
 */
export async function updateIncident(
  pool: Pool,
  incidentId: string,
  changes: IncidentChanges,
  { actor, expectedVersion }: IncidentActor,
): Promise<Incident> {
  checkId(incidentId);
  checkActor(actor);
  const { state, assignee, note, resolutionMethod, rootCause } = changes;
  if (state === undefined && assignee === undefined && note === undefined) {
    throw new IncidentValidationError('nothing to change: give a state, an assignee or a note');
  }
  if (state !== undefined) checkOneOf('state', INCIDENT_STATES, state);
  const resolving = state !== undefined && isFinalState(state);
  if (resolving) {
    checkOneOf('resolutionMethod', RESOLUTION_METHODS, resolutionMethod);
    if (typeof rootCause !== 'string' || rootCause.trim() === '') {
      throw new IncidentValidationError(`${state} needs a root cause`);
    }
  } else if (resolutionMethod !== undefined || rootCause !== undefined) {
    throw new IncidentValidationError(
      'a resolution method and root cause are given only when resolving (RESOLVED or FALSE_POSITIVE)',
    );
  }
  if (note !== undefined && (typeof note !== 'string' || note.trim() === '')) {
    throw new IncidentValidationError('a note must not be empty');
  }
  return withTransaction(pool, async (db) => {
    const key = await db.query<{ host_id: string; tripwire_type: string; rule_name: string }>(
      'SELECT host_id, tripwire_type, rule_name FROM incidents WHERE incident_id = $1',
      [incidentId],
    );
    const k = key.rows[0];
    if (!k) throw new IncidentNotFoundError(incidentId);
    // The same lock ingest takes: state and last_seen of this key change only under it.
    await db.query('SELECT lock_incident_key($1, $2, $3)', [
      k.host_id,
      k.tripwire_type,
      k.rule_name,
    ]);
    const current = await db.query<IncidentRow>(
      `${SELECT_INCIDENTS} WHERE incidents.incident_id = $1 FOR UPDATE OF incidents`,
      [incidentId],
    );
    const before = toIncident(current.rows[0]!);
    if (expectedVersion !== undefined && expectedVersion !== before.version) {
      throw new IncidentConflictError(incidentId, expectedVersion, before.version);
    }
    if (state !== undefined) assertTransition(before.state, state);
    const notes =
      note === undefined ? [] : [{ author: actor, at: new Date().toISOString(), text: note }];
    const { rows } = await db.query<IncidentRow>(
      `UPDATE incidents SET
         state = coalesce($2::incident_state, state),
         assignee = CASE WHEN $3::boolean THEN $4 ELSE assignee END,
         notes = notes || $5::jsonb,
         resolution_method = coalesce($6::incident_resolution, resolution_method),
         root_cause = coalesce($7, root_cause),
         resolved_at = CASE WHEN $6::incident_resolution IS NOT NULL THEN now() ELSE resolved_at END,
         updated_at = now(),
         version = version + 1
       WHERE incident_id = $1 RETURNING ${RETURNING_INCIDENT}`,
      [
        incidentId,
        state ?? null,
        assignee !== undefined,
        assignee ?? null,
        JSON.stringify(notes),
        resolving ? resolutionMethod : null,
        resolving ? rootCause : null,
      ],
    );
    const after = toIncident(rows[0]!);
    await appendAuditEntry(db, {
      actor,
      action: state !== undefined ? 'incident.transition' : 'incident.update',
      hostId: after.hostId,
      target: incidentId,
      details: {
        ...(state !== undefined ? { from: before.state, to: after.state } : {}),
        ...(note !== undefined ? { note } : {}),
        before: auditView(before),
        after: auditView(after),
      },
    });
    return after;
  });
}

export interface IncidentResolution {
  /** RESOLVED (default) or FALSE_POSITIVE. */
  state?: FinalState;
  resolutionMethod: ResolutionMethod;
  rootCause: string;
  note?: string;
}

/** Ends an incident: RESOLVED or FALSE_POSITIVE, with how and why. */
export async function resolveIncident(
  pool: Pool,
  incidentId: string,
  resolution: IncidentResolution,
  actor: IncidentActor,
): Promise<Incident> {
  const state = resolution.state ?? 'RESOLVED';
  if (!isFinalState(state)) {
    throw new IncidentValidationError('resolve to RESOLVED or FALSE_POSITIVE');
  }
  return updateIncident(
    pool,
    incidentId,
    {
      state,
      resolutionMethod: resolution.resolutionMethod,
      rootCause: resolution.rootCause,
      ...(resolution.note !== undefined ? { note: resolution.note } : {}),
    },
    actor,
  );
}

export interface IncidentsChangedQuery {
  /** updated_at ≥ this. */
  since: Date;
  /** The previous page's last incident_id; null for the first page. */
  afterId: string | null;
  /** Only incidents some selector takes (its host, type and max_severity). */
  selectors: readonly RowSelector[];
  limit: number;
}

/**
 * One page of the incidents changed since a time, as they stand now, by incident_id: a
 * snapshot for a browser resuming from the database (order does not matter there, revisions
 * do). Paged by the primary key, so the pages together read the table once.
 */
export async function incidentsChangedPage(
  db: Queryable,
  query: IncidentsChangedQuery,
): Promise<Incident[]> {
  const params: unknown[] = [query.since, query.afterId ?? '00000000-0000-0000-0000-000000000000'];
  const selected = selectorCondition(
    query.selectors,
    {
      severity: 'incidents.max_severity',
      tripwireType: 'incidents.tripwire_type',
      hostId: 'incidents.host_id',
    },
    params,
  );
  params.push(query.limit);
  const { rows } = await db.query<IncidentRow>(
    `${SELECT_INCIDENTS} WHERE incidents.updated_at >= $1 AND incidents.incident_id > $2::uuid
       AND ${selected}
     ORDER BY incidents.incident_id LIMIT $${params.length}`,
    params,
  );
  return rows.map(toIncident);
}
