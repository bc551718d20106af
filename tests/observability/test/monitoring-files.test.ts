// The monitoring files on their own: promtool accepts the rules, the kustomize component's
// PrometheusRule is the rules file, every rule says how bad and what to do, and the dashboard
// asks for its data source instead of naming one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ALERTS_FILE,
  alertRules,
  dashboard,
  dashboardQueries,
  fixedDatasources,
  REPO,
} from '../src/monitoring-files.js';
import { PROMTOOL_BIN, prometheusInstalled } from '../src/prometheus-server.js';

const run = promisify(execFile);
const CI = process.env.CI === 'true';

describe('infra/prometheus/alerts.yaml', () => {
  // In CI a missing binary is a failure (.ci/run installs Debian's prometheus), elsewhere a skip.
  it.skipIf(!CI && !prometheusInstalled())('passes promtool check rules', async () => {
    expect(
      prometheusInstalled(),
      `${PROMTOOL_BIN} missing: apt-get install --no-install-recommends prometheus`,
    ).toBe(true);
    const { stdout } = await run(PROMTOOL_BIN, ['check', 'rules', ALERTS_FILE]);
    expect(stdout).toContain(`SUCCESS: ${alertRules().length} rules found`);
  });

  it('is what the kustomize component PrometheusRule holds (pnpm monitoring:generate)', async () => {
    const { stdout } = await run(process.execPath, [
      `${REPO}scripts/generate-prometheus-rule.mjs`,
      '--check',
    ]);
    expect(stdout).toContain('matches');
  });

  it('gives every rule a for:, a severity, a summary and a description, and a unique name', () => {
    const rules = alertRules();
    expect(rules.length).toBeGreaterThan(20);
    for (const rule of rules) {
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });
});

describe('infra/grafana/tripwire.json', () => {
  it('takes its Prometheus from a datasource variable, in every panel and query', () => {
    const d = dashboard();
    expect(d.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    expect(fixedDatasources(d)).toEqual([]);
  });

  it('has a panel for each thing issue 17 lists', () => {
    const exprs = dashboardQueries(dashboard())
      .map((q) => q.expr)
      .join('\n');
    for (const metric of [
      'tripwire_ingest_alerts_received_total',
      'tripwire_ingest_ack_latency_seconds_bucket',
      'tripwire_ingest_alerts_rejected_total',
      'tripwire_ingest_flush_duration_seconds_bucket',
      'tripwire_ingest_bus_backlog',
      'tripwire_fanout_connections',
      'tripwire_fanout_frames_sent_total',
      'tripwire_fanout_slow_consumer_closes_total',
      'tripwire_fanout_resumes_total',
      'tripwire_ingest_dependency_hung',
      'tripwire_fanout_dependency_timeouts_total',
      'process_resident_memory_bytes',
    ]) {
      expect(exprs).toContain(metric);
    }
  });
});
