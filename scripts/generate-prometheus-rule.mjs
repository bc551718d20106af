// Writes infra/k8s/components/monitoring/prometheus-rule.yaml from infra/prometheus/alerts.yaml:
// the Prometheus Operator's PrometheusRule takes a rules file's `groups:` under `spec:`, so the
// rules live in one file and the component cannot drift from it. `--check` only compares
// (exit 1 when the committed file differs): tests/observability and .ci/deploy-check.sh run it.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = 'infra/prometheus/alerts.yaml';
const target = 'infra/k8s/components/monitoring/prometheus-rule.yaml';

/** The PrometheusRule text for a rules file whose only top-level key is `groups:`. */
export function prometheusRule(rulesFile) {
  const lines = rulesFile.split('\n');
  const start = lines.findIndex((line) => line.startsWith('groups:'));
  if (start < 0) throw new Error(`${source} has no top-level groups:`);
  const body = lines.slice(start).map((line) => (line === '' ? '' : `  ${line}`));
  return [
    `# GENERATED from ${source} by scripts/generate-prometheus-rule.mjs (pnpm monitoring:generate).`,
    '# Edit the rules there, not here.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: tripwire',
    '  labels:',
    '    app.kubernetes.io/part-of: tripwire',
    'spec:',
    ...body,
  ].join('\n');
}

const expected = prometheusRule(readFileSync(`${root}/${source}`, 'utf8'));
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(`${root}/${target}`, 'utf8');
  } catch {}
  if (current !== expected) {
    console.error(`${target} differs from ${source}: run pnpm monitoring:generate`);
    process.exit(1);
  }
  console.log(`${target} matches ${source}`);
} else {
  writeFileSync(`${root}/${target}`, expected);
  console.log(`wrote ${target}`);
}
