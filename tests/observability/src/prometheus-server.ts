// A real Prometheus (Debian's /usr/bin/prometheus) for tests: its own config, data folder and
// free port, scraping the given targets every second and evaluating the given rule files.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, until } from '@tripwire/test-fixtures';

// Debian's `prometheus` package (.ci/run installs it).
export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

/** Whether the binaries are here. CI must have them (.ci/run installs Debian's `prometheus`). */
export const prometheusInstalled = () => existsSync(PROMETHEUS_BIN) && existsSync(PROMTOOL_BIN);

export interface ScrapeJob {
  job: string;
  /** host:port */
  target: string;
}

/** One sample of an instant vector: its labels and value (a string, as the API sends it). */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Sample[] | [number, string] };
}

export interface RuleState {
  name: string;
  query: string;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  lastEvaluation: string;
}

const config = (jobs: readonly ScrapeJob[], ruleFiles: readonly string[]) =>
  JSON.stringify({
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: jobs.map(({ job, target }) => ({
      job_name: job,
      static_configs: [{ targets: [target] }],
    })),
  });

export class PrometheusServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly url: string,
    readonly output: string[],
  ) {}

  /** Starts Prometheus (its YAML config is written as JSON, which YAML reads) and waits until ready. */
  static async start(jobs: readonly ScrapeJob[], ruleFiles: readonly string[]) {
    if (!prometheusInstalled()) {
      throw new Error(
        `${PROMETHEUS_BIN} missing: apt-get install --no-install-recommends prometheus`,
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'tripwire-prometheus-'));
    writeFileSync(join(dir, 'prometheus.yml'), config(jobs, ruleFiles));
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    child.stdout?.on('data', (c) => output.push(String(c)));
    child.stderr?.on('data', (c) => output.push(String(c)));
    child.on('error', (err) => output.push(String(err)));
    const server = new PrometheusServer(child, dir, `http://127.0.0.1:${port}`, output);
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${output.join('')}`);
        return (await fetch(`${server.url}/-/ready`).catch(() => null))?.ok === true;
      },
      30_000,
      'Prometheus ready',
    );
    return server;
  }

  /** An instant query at the latest time, as Grafana's and the rule manager's would be. */
  async query(expr: string): Promise<QueryAnswer> {
    const res = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return (await res.json()) as QueryAnswer;
  }

  /** Metric families the scraped targets declare (# HELP / # TYPE), with or without samples. */
  async metricFamilies(): Promise<Set<string>> {
    const body = (await (await fetch(`${this.url}/api/v1/metadata`)).json()) as {
      data: Record<string, unknown>;
    };
    return new Set(Object.keys(body.data));
  }

  /** Every alerting rule as the rule manager last evaluated it. */
  async rules(): Promise<RuleState[]> {
    const body = (await (await fetch(`${this.url}/api/v1/rules?type=alert`)).json()) as {
      data: { groups: Array<{ rules: RuleState[] }> };
    };
    return body.data.groups.flatMap((g) => g.rules);
  }

  async stop() {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
