// Rules from a local YAML/JSON file: the host's own baseline, watched besides the server's.
import { readFileSync } from 'node:fs';
import type { AgentRule } from '@tripwire/agent-sdk';
import { SEVERITIES, TRIPWIRE_TYPES } from '@tripwire/wire';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './agent-config.js';
import { shippedFile } from './shipped-files.js';

/** The rules shipped with the agent (services/agent/default-rules.yaml). */
export const DEFAULT_RULES_FILE = shippedFile('default-rules.yaml');

const ruleSchema = z.object({
  name: z.string().min(1).max(128),
  type: z.enum(TRIPWIRE_TYPES),
  severity: z.enum(SEVERITIES).default('WARN'),
  target: z.string().min(1).max(1024),
  config: z.record(z.string(), z.unknown()).default({}),
  enabled: z.boolean().default(true),
});
const fileSchema = z.object({ rules: z.array(ruleSchema) });

export function loadLocalRules(path: string): AgentRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the rules file ${path}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`rules file ${path} is invalid:\n${problems.join('\n')}`);
  }
  return parsed.data.rules.map((r) => ({
    ruleId: `local:${r.name}`,
    hostId: null,
    name: r.name,
    tripwireType: r.type,
    severity: r.severity,
    target: r.target,
    config: r.config,
    enabled: r.enabled,
  }));
}

/** The server's rules win over local rules of the same name. */
export function mergeRules(local: AgentRule[], server: AgentRule[]): AgentRule[] {
  const names = new Set(server.map((r) => r.name));
  return [...server, ...local.filter((r) => !names.has(r.name))];
}
