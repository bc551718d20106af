-- Up Migration
-- A rule with a NULL host_id is global: it applies to every host.
CREATE TABLE tripwire_rules (
  rule_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  host_id       uuid REFERENCES hosts (host_id) ON DELETE CASCADE,
  name          text NOT NULL CHECK (name <> ''),
  tripwire_type tripwire_type NOT NULL,
  severity      severity_level NOT NULL DEFAULT 'WARN',
  target        text NOT NULL CHECK (target <> ''),
  config        jsonb NOT NULL DEFAULT '{}'::jsonb,
  enabled       boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tripwire_rules_name_unique UNIQUE NULLS NOT DISTINCT (host_id, name)
);
CREATE INDEX tripwire_rules_host_idx ON tripwire_rules (host_id);

-- Down Migration
DROP TABLE tripwire_rules;
