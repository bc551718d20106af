// The monitoring files under test: the rules file and the Grafana dashboard, read as Prometheus
// and Grafana would, with the dashboard's variables substituted.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const ALERTS_FILE = `${REPO}infra/prometheus/alerts.yaml`;
export const DASHBOARD_FILE = `${REPO}infra/grafana/tripwire.json`;

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: { severity?: string };
  annotations?: { summary?: string; description?: string };
}

export function alertRules(): AlertRule[] {
  const file = parse(readFileSync(ALERTS_FILE, 'utf8')) as {
    groups: Array<{ rules: AlertRule[] }>;
  };
  return file.groups.flatMap((g) => g.rules);
}

interface Panel {
  title: string;
  type: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

export interface Dashboard {
  templating: { list: Array<{ name: string; type: string; query?: string }> };
  panels: Panel[];
}

export const dashboard = () => JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/**
 * Grafana's $__rate_interval at a 1 s scrape interval and Grafana's default 15 s "scrape
 * interval" setting: max(4 x 15 s, step + 15 s); one minute covers both.
 */
const VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

/** Every query of every panel (rows' nested panels too), with variables substituted. */
export function dashboardQueries(d: Dashboard): Array<{ panel: string; expr: string }> {
  const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => VARIABLES[name] ?? whole),
    })),
  );
}

/** Grafana's reference to the dashboard's `datasource` variable (a literal, not a template). */
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('');

/** Panels and queries whose datasource is not the dashboard's `datasource` variable. */
export function fixedDatasources(d: Dashboard): string[] {
  const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  return panels.flatMap((p) =>
    [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]
      .filter((ds) => ds?.uid !== DATASOURCE_VARIABLE)
      .map(() => p.title),
  );
}
