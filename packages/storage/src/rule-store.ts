import type { Severity, TripwireRule, TripwireType } from './models.js';
import type { Queryable } from './pool.js';

export interface RuleInput {
  hostId: string | null;
  name: string;
  tripwireType: TripwireType;
  severity: Severity;
  target: string;
  config?: Record<string, unknown>;
  enabled?: boolean;
}

interface RuleRow {
  rule_id: string;
  host_id: string | null;
  name: string;
  tripwire_type: TripwireType;
  severity: Severity;
  target: string;
  config: Record<string, unknown>;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const RULE_COLUMNS =
  'rule_id, host_id, name, tripwire_type, severity, target, config, enabled, created_at, updated_at';

const toRule = (r: RuleRow): TripwireRule => ({
  ruleId: r.rule_id,
  hostId: r.host_id,
  name: r.name,
  tripwireType: r.tripwire_type,
  severity: r.severity,
  target: r.target,
  config: r.config,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The mutable columns in the order both INSERT and UPDATE use them. */
const ruleParams = (input: RuleInput) => [
  input.hostId,
  input.name,
  input.tripwireType,
  input.severity,
  input.target,
  input.config ?? {},
  input.enabled ?? true,
];

export async function createRule(db: Queryable, input: RuleInput): Promise<TripwireRule> {
  const { rows } = await db.query<RuleRow>(
    `INSERT INTO tripwire_rules (host_id, name, tripwire_type, severity, target, config, enabled)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${RULE_COLUMNS}`,
    ruleParams(input),
  );
  return toRule(rows[0]!);
}

export async function getRule(db: Queryable, ruleId: string): Promise<TripwireRule | null> {
  const { rows } = await db.query<RuleRow>(
    `SELECT ${RULE_COLUMNS} FROM tripwire_rules WHERE rule_id = $1`,
    [ruleId],
  );
  return rows[0] ? toRule(rows[0]) : null;
}

/** Replaces every mutable field; returns null when the rule does not exist. */
export async function updateRule(
  db: Queryable,
  ruleId: string,
  input: RuleInput,
): Promise<TripwireRule | null> {
  const { rows } = await db.query<RuleRow>(
    `UPDATE tripwire_rules SET host_id = $2, name = $3, tripwire_type = $4, severity = $5,
       target = $6, config = $7, enabled = $8, updated_at = now()
     WHERE rule_id = $1 RETURNING ${RULE_COLUMNS}`,
    [ruleId, ...ruleParams(input)],
  );
  return rows[0] ? toRule(rows[0]) : null;
}

/** Returns false when there was no such rule. */
export async function deleteRule(db: Queryable, ruleId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM tripwire_rules WHERE rule_id = $1', [ruleId]);
  return (rowCount ?? 0) > 0;
}

/**
 * With a host id: that host's rules plus the global ones. With null: only the
 * global rules. Global rules first, then by name.
 */
export async function listRules(db: Queryable, hostId: string | null): Promise<TripwireRule[]> {
  const { rows } = await db.query<RuleRow>(
    `SELECT ${RULE_COLUMNS} FROM tripwire_rules
     WHERE host_id IS NULL OR host_id = $1
     ORDER BY host_id NULLS FIRST, name`,
    [hostId],
  );
  return rows.map(toRule);
}

/** Every rule, global and host-scoped. */
export async function listAllRules(db: Queryable): Promise<TripwireRule[]> {
  const { rows } = await db.query<RuleRow>(
    `SELECT ${RULE_COLUMNS} FROM tripwire_rules ORDER BY host_id NULLS FIRST, name`,
  );
  return rows.map(toRule);
}
