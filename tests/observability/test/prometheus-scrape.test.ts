// A real Prometheus scraping a real ingest and fan-out (their own processes) while an agent
// streams alerts and browsers watch, resume and get refused. Every query of the Grafana
// dashboard and every rule of infra/prometheus/alerts.yaml must evaluate without error and
// return data. For a threshold rule "returns data" means its signal (the left side of its
// comparison: `increase(x[5m])` in `increase(x[5m]) > 0`) returns series, so a renamed metric
// or label cannot leave a rule silently never firing; the rule itself returns series only while
// it fires. The rule manager must also report every rule healthy.

import { FanoutProcess } from '@tripwire/fanout/testing';
import { IngestProcess } from '@tripwire/ingest/testing';
import { createOperatorAuth } from '@tripwire/operator-auth';
import * as storage from '@tripwire/storage';
import { until, useTestEnvironment } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertSocket, StreamingAgent } from '../src/alert-traffic.js';
import { ALERTS_FILE, alertRules, dashboard, dashboardQueries } from '../src/monitoring-files.js';
import { PrometheusServer, prometheusInstalled } from '../src/prometheus-server.js';
import { familyOf, metricNames, ruleSignals } from '../src/promql-signals.js';
import { queryUntilData } from '../src/query-until-data.js';

const ENROLLMENT_TOKEN = 'observability-enrollment-token-0123456789';
const JWT_SECRET = 'observability-operator-secret-0123456789abcdef';
const CI = process.env.CI === 'true';
const DATA_TIMEOUT_MS = 60_000;

/**
 * Series that first appear when their event happens, which this run does not provoke: the
 * ingest's timeouts (a flush or publish running into its timeout ends the agent streams; the
 * services' own dependency-hang tests do that). An expression reading only these must evaluate,
 * and read metric families the services declare (# TYPE), but may return nothing.
 */
const EVENT_ONLY = new Set(['tripwire_ingest_dependency_timeouts_total']);
const eventOnly = (expr: string) => metricNames(expr).every((n) => EVENT_ONLY.has(n));

const env = useTestEnvironment(storage);
let ingest: IngestProcess;
let fanout: FanoutProcess;
let prometheus: PrometheusServer;
let agent: StreamingAgent;
const sockets: AlertSocket[] = [];

async function startTraffic() {
  const auth = createOperatorAuth(JWT_SECRET);
  const viewer = await auth.issue('observer', 'viewer');
  const watching = new AlertSocket(fanout.wsUrl, viewer);
  sockets.push(watching);
  await watching.opened;
  agent = await StreamingAgent.enroll(ingest.address, ENROLLMENT_TOKEN);
  agent.flow(5, 200);
  await agent.sendInvalid();
  await agent.callWithBadToken();
  // The window holds HISTORY_MAX_ENTRIES (10) frames: once 30 alerts went by, the first one's
  // position is only in PostgreSQL. Resuming from it is served from the database, and cut
  // short past WS_BACKFILL_MAX_ALERTS (1): outcome "database", a backfill abort "limit".
  await until(() => watching.alerts().length >= 30, 20_000, 'alerts on the WebSocket');
  const fromDatabase = new AlertSocket(fanout.wsUrl, viewer, watching.alerts()[0]!.position);
  // A browser that comes back in time: resumed from the fan-out's memory ("replayed").
  const latest = watching.alerts().at(-1)!.position;
  const replayed = new AlertSocket(fanout.wsUrl, viewer, latest);
  // A position that was never issued: outcome "unavailable".
  const unavailable = new AlertSocket(fanout.wsUrl, viewer, 'not-a-position');
  sockets.push(fromDatabase, replayed, unavailable);
  await until(
    () => [fromDatabase, replayed, unavailable].every((s) => s.welcome() !== undefined),
    20_000,
    'the resumes answered',
  );
  const outcomes = [fromDatabase, replayed, unavailable].map(
    (s) => s.welcome()?.resume?.source ?? s.welcome()?.resume?.status,
  );
  expect(outcomes).toEqual(['database', 'memory', 'unavailable']);
  await timeOutOneQuery(viewer);
  // A browser with a bad token: refused (tripwire_fanout_auth_failures_total).
  const refused = new AlertSocket(fanout.wsUrl, 'not-a-token');
  sockets.push(refused);
  await refused.opened.catch(() => {});
}

/**
 * A REST query that runs into the fan-out's PG_STATEMENT_TIMEOUT_MS: audit_entries locked by
 * another session, which nothing else here reads (no hang is declared: the probe reads alerts).
 */
async function timeOutOneQuery(viewer: string) {
  const locker = await env.pool.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE audit_entries IN ACCESS EXCLUSIVE MODE');
    const res = await fetch(`${fanout.url}/api/audit`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(res.status).toBe(503);
  } finally {
    await locker.query('ROLLBACK');
    locker.release();
  }
}

describe.skipIf(!CI && !prometheusInstalled())('Prometheus scraping ingest and fan-out', () => {
  beforeAll(async () => {
    ingest = await IngestProcess.create(env, ENROLLMENT_TOKEN, { BATCH_MAX_DELAY_MS: '5' });
    fanout = await FanoutProcess.create(env, JWT_SECRET, {
      LOG_LEVEL: 'warn',
      HISTORY_MAX_ENTRIES: '10',
      WS_BACKFILL_MAX_ALERTS: '1',
      PG_STATEMENT_TIMEOUT_MS: '2000',
    });
    await Promise.all([ingest.start(), fanout.start()]);
    prometheus = await PrometheusServer.start(
      [
        { job: 'ingest', target: `127.0.0.1:${ingest.httpPort}` },
        { job: 'fanout', target: `127.0.0.1:${fanout.metricsPort}` },
      ],
      [ALERTS_FILE],
    );
    await startTraffic();
  });
  afterAll(async () => {
    agent?.stop();
    for (const s of sockets) s.close();
    await prometheus?.stop();
    await Promise.all([ingest?.stop(), fanout?.stop()]);
  });

  it('scrapes both services, with Node.js metrics under their standard names and a service label', async () => {
    const outcome = await queryUntilData(
      prometheus,
      [
        'up{job="ingest"} == 1',
        'up{job="fanout"} == 1',
        'process_resident_memory_bytes{service="ingest"}',
        'process_resident_memory_bytes{service="fanout"}',
        'nodejs_eventloop_lag_p99_seconds{service="fanout"}',
      ],
      DATA_TIMEOUT_MS,
    );
    expect(outcome).toEqual({ errors: [], empty: [] });
    // The old double prefix (tripwire_ingest_process_process_…) is gone.
    const prefixed = await prometheus.query('{__name__=~"tripwire_(ingest|fanout)_process_.*"}');
    expect(prefixed.data?.result).toEqual([]);
  });

  it('answers every query of the Grafana dashboard with data', async () => {
    const queries = dashboardQueries(dashboard()).map((q) => q.expr);
    // First what needs no waiting (both targets were scraped): a misspelt metric fails here.
    await expectDeclaredAndValid(queries);
    const live = queries.filter((e) => !eventOnly(e));
    // A number, not only a series: a quantile over no observations is NaN.
    expect(await queryUntilData(prometheus, live, DATA_TIMEOUT_MS, { numbers: true })).toEqual({
      errors: [],
      empty: [],
    });
  });

  it('evaluates every alerting rule, and each rule signal returns data', async () => {
    const rules = alertRules();
    const signals = rules.flatMap((r) => ruleSignals(r.expr));
    await expectDeclaredAndValid([...rules.map((r) => r.expr), ...signals]);
    expect(
      await queryUntilData(
        prometheus,
        signals.filter((s) => !eventOnly(s)),
        DATA_TIMEOUT_MS,
      ),
    ).toEqual({ errors: [], empty: [] });
    // The rule manager loaded the same file and evaluated each rule at least once, cleanly.
    await until(
      async () => (await prometheus.rules()).every((r) => !r.lastEvaluation.startsWith('0001')),
      DATA_TIMEOUT_MS,
      'every rule evaluated',
    );
    const states = await prometheus.rules();
    expect(states.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert).sort());
    expect(states.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual(
      [],
    );
  });
});

/** Each expression evaluates, and every metric it reads is a family the services declare. */
async function expectDeclaredAndValid(exprs: readonly string[]) {
  const families = await prometheus.metricFamilies();
  const undeclared = exprs.flatMap((e) =>
    metricNames(e)
      .filter((n) => n !== 'up' && !families.has(familyOf(n)))
      .map((n) => `${n} (in ${e})`),
  );
  expect(undeclared).toEqual([]);
  const answers = await Promise.all(exprs.map((e) => prometheus.query(e)));
  expect(
    answers.flatMap((a, i) => (a.status === 'success' ? [] : [`${exprs[i]}: ${a.error}`])),
  ).toEqual([]);
}
