import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  publishMessages,
  type RunningFanout,
  signIn,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';
import { fetchDocumented } from './openapi-contract.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;

beforeAll(async () => {
  fanout = await startFanout(env, {
    WS_RATE_LIMIT_MESSAGES: '20',
    WS_MAX_SUBSCRIPTIONS: '3',
    WS_MAX_FILTER_ENTRIES: '5',
  });
  viewer = await auth.issue('vera', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
});

describe('/ws/alerts delivery', () => {
  it('sends a silent client every alert, framed as {type: "alert", data: the alert} plus its position', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    await until(() => b.ofType('welcome').length === 1);
    expect(b.frames[0]).toMatchObject({
      type: 'welcome',
      session_id: expect.any(String),
      operator: { name: 'vera', role: 'viewer' },
    });
    const a = alertData({ hostname: 'db-07', event_detail: { path: '/etc/shadow', pid: 42 } });
    publishAlerts(env, [a]);
    await until(() => b.alerts().length === 1);
    const frame = b.alerts()[0]!;
    expect(frame).toEqual({
      type: 'alert',
      position: expect.stringMatching(/^[0-9a-z]{1,16}:\d+-\d+$/),
      data: a,
    });
    b.close();
  });

  it('applies query-string filters: severity, type and host_id, each a comma list', async () => {
    const hostA = alertData().host_id;
    const hostB = alertData().host_id;
    const crit = new Browser(fanout.wsUrl, { token: viewer, query: { severity: 'CRITICAL,WARN' } });
    const net = new Browser(fanout.wsUrl, { token: viewer, query: { type: 'network' } });
    const host = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { host_id: `${hostA},${hostB}` },
    });
    await Promise.all([crit.opened, net.opened, host.opened]);
    await until(() => [crit, net, host].every((b) => b.ofType('welcome').length === 1));
    const alerts = [
      alertData({ severity: 'INFO', tripwire_type: 'NETWORK', host_id: hostA }),
      alertData({ severity: 'WARN', tripwire_type: 'FILE' }),
      alertData({ severity: 'CRITICAL', tripwire_type: 'PROCESS', host_id: hostB }),
      alertData({ severity: 'INFO', tripwire_type: 'FILE' }),
    ];
    publishAlerts(env, alerts);
    const marker = alertData({ severity: 'CRITICAL', tripwire_type: 'NETWORK', host_id: hostA });
    publishAlerts(env, [marker]);
    await until(() => [crit, net, host].every((b) => b.alertIds().includes(marker.alert_id)));
    const ids = (xs: typeof alerts) => xs.map((x) => x.alert_id);
    expect(crit.alertIds()).toEqual([...ids([alerts[1]!, alerts[2]!]), marker.alert_id]);
    expect(net.alertIds()).toEqual([...ids([alerts[0]!]), marker.alert_id]);
    expect(host.alertIds()).toEqual([...ids([alerts[0]!, alerts[2]!]), marker.alert_id]);
    for (const b of [crit, net, host]) b.close();
  });

  it('never delivers an alert twice on one connection, however subscriptions overlap', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer, query: { severity: 'CRITICAL' } });
    await b.opened;
    b.send({ type: 'subscribe', subscription_id: 'files', filters: { tripwire_types: ['FILE'] } });
    b.send({
      type: 'subscribe',
      subscription_id: 'all-crit',
      filters: { severities: ['CRITICAL'], tripwire_types: [] },
    });
    await until(() => b.ofType('subscribed').length === 2);
    const both = alertData({ severity: 'CRITICAL', tripwire_type: 'FILE' });
    const onlyFile = alertData({ severity: 'INFO', tripwire_type: 'FILE' });
    const neither = alertData({ severity: 'WARN', tripwire_type: 'PROCESS' });
    publishAlerts(env, [both, onlyFile, neither]);
    const last = alertData({ severity: 'CRITICAL', tripwire_type: 'NETWORK' });
    publishAlerts(env, [last]);
    await until(() => b.alertIds().includes(last.alert_id));
    // `both` matches all three subscriptions and still arrives once.
    expect(b.alertIds()).toEqual([both.alert_id, onlyFile.alert_id, last.alert_id]);
    b.send({ type: 'unsubscribe', subscription_id: 'files' });
    b.send({ type: 'unsubscribe', subscription_id: 'default' });
    await until(() => b.ofType('unsubscribed').length === 2);
    const fileAgain = alertData({ severity: 'INFO', tripwire_type: 'FILE' });
    const critAgain = alertData({ severity: 'CRITICAL', tripwire_type: 'NETWORK' });
    publishAlerts(env, [fileAgain, critAgain]);
    await until(() => b.alertIds().includes(critAgain.alert_id));
    expect(b.alertIds().slice(3)).toEqual([critAgain.alert_id]);
    b.close();
  });

  it('sends an alert the bus carries twice (a publisher retry) only once', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    await until(() => b.ofType('welcome').length === 1);
    const a = alertData();
    const marker = alertData();
    publishAlerts(env, [a]);
    publishAlerts(env, [a, marker]);
    await until(() => b.alertIds().includes(marker.alert_id));
    expect(b.alertIds()).toEqual([a.alert_id, marker.alert_id]);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_duplicates_skipped_total [1-9]/);
    b.close();
  });

  it('sends host online/offline changes to everyone', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer, query: { severity: 'CRITICAL' } });
    await b.opened;
    await until(() => b.ofType('welcome').length === 1);
    publishMessages(env, [
      {
        type: 'host',
        data: {
          host_id: alertData().host_id,
          hostname: 'web-09',
          status: 'online',
          platform: 'linux',
          agent_version: '1',
          last_seen: null,
          version: 1,
        },
      },
    ]);
    await until(() => b.ofType('host').length === 1);
    expect(b.ofType('host')[0]).toMatchObject({
      type: 'host',
      position: expect.any(String),
      data: { hostname: 'web-09', status: 'online' },
    });
    b.close();
  });

  it('drops a host change published after a newer one of that host (two ingest instances racing)', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    await until(() => b.ofType('welcome').length === 1);
    const hostId = alertData().host_id;
    const change = (status: 'online' | 'offline', version: number, host_id = hostId) => ({
      type: 'host' as const,
      data: {
        host_id,
        hostname: 'race-01',
        status,
        platform: 'linux',
        agent_version: '1',
        last_seen: new Date().toISOString(),
        version,
      },
    });
    // Instance 1 committed offline (version 2), instance 2 then online (version 3), but
    // instance 2's message reached the bus first. Two separate publishes, in that order.
    publishMessages(env, [change('offline', 1), change('online', 3)]);
    publishMessages(env, [change('offline', 2)]);
    const marker = change('online', 1, alertData().host_id);
    publishMessages(env, [marker]);
    await until(() =>
      b.ofType('host').some((f) => (f.data as { host_id: string }).host_id === marker.data.host_id),
    );
    const seen = b
      .ofType('host')
      .map((f) => f.data as { host_id: string; status: string; version: number })
      .filter((d) => d.host_id === hostId)
      .map((d) => [d.status, d.version]);
    expect(seen).toEqual([
      ['offline', 1],
      ['online', 3],
    ]);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_stale_host_messages_total [1-9]/);
    // A client resuming from before the race is replayed the same: the stale change was never kept.
    const first = b.ofType('host').find((f) => (f.data as { host_id: string }).host_id === hostId);
    b.close();
    const r = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { since: String(first!.position) },
    });
    await r.opened;
    await until(() =>
      r.ofType('host').some((f) => (f.data as { host_id: string }).host_id === marker.data.host_id),
    );
    expect(
      r
        .ofType('host')
        .map((f) => f.data as { host_id: string; version: number })
        .filter((d) => d.host_id === hostId)
        .map((d) => d.version),
    ).toEqual([3]);
    r.close();
  });

  it('answers ping with pong', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    b.send({ type: 'ping', timestamp: 't-1' });
    await until(() => b.ofType('pong').length === 1);
    expect(b.ofType('pong')[0]).toEqual({ type: 'pong', timestamp: 't-1' });
    b.close();
  });
});

describe('bad frames', () => {
  it('gets a specific error for each, and the connection and process survive', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    const cases: Array<[unknown, string]> = [
      ['{not json', 'invalid_json'],
      ['[1,2]', 'invalid_message'],
      [{ type: 'explode' }, 'unknown_type'],
      [
        { type: 'subscribe', subscription_id: 'x', filters: { severities: ['LOUD'] } },
        'invalid_filter',
      ],
      [{ type: 'subscribe', subscription_id: 'x', filters: { colour: ['red'] } }, 'invalid_filter'],
      [
        { type: 'subscribe', subscription_id: 'x', filters: { host_ids: ['not-a-uuid'] } },
        'invalid_filter',
      ],
      [
        {
          type: 'subscribe',
          subscription_id: 'x',
          filters: {
            severities: ['INFO', 'WARN', 'CRITICAL'],
            tripwire_types: ['FILE', 'NETWORK', 'PROCESS'],
          },
        },
        'invalid_filter',
      ],
      [{ type: 'subscribe', subscription_id: '', filters: {} }, 'invalid_subscription_id'],
      [{ type: 'unsubscribe', subscription_id: 'never' }, 'unknown_subscription'],
    ];
    for (const [frame] of cases) b.send(frame);
    await until(() => b.ofType('error').length === cases.length);
    expect(b.ofType('error').map((e) => e.code)).toEqual(cases.map(([, code]) => code));
    expect(b.ofType('error')[3]).toMatchObject({
      subscription_id: 'x',
      message: expect.stringMatching(/LOUD/),
    });

    b.send({ type: 'subscribe', subscription_id: 's1', filters: {} });
    b.send({ type: 'subscribe', subscription_id: 's2', filters: {} });
    b.send({ type: 'subscribe', subscription_id: 's3', filters: {} });
    await until(() => b.ofType('error').length === cases.length + 1);
    expect(b.ofType('error').at(-1)).toMatchObject({ code: 'too_many_subscriptions' });

    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_client_errors_total\{code="invalid_filter"\} 4/);
    b.close();
  });

  it('rate-limits client messages', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    for (let i = 0; i < 25; i++) b.send({ type: 'ping', timestamp: String(i) });
    await until(() => b.ofType('pong').length + b.ofType('error').length === 25);
    expect(b.ofType('pong')).toHaveLength(20);
    expect(b.ofType('error').every((e) => e.code === 'rate_limited')).toBe(true);
    b.close();
  });

  it('closes a connection that sends a frame over 64 KiB with 1009, and serves others meanwhile', async () => {
    const big = new Browser(fanout.wsUrl, { token: viewer });
    const other = new Browser(fanout.wsUrl, { token: viewer });
    await Promise.all([big.opened, other.opened]);
    big.send({ type: 'ping', timestamp: 'x'.repeat(70 * 1024) });
    expect((await big.closed).code).toBe(1009);
    const a = alertData();
    publishAlerts(env, [a]);
    await until(() => other.alertIds().includes(a.alert_id));
    other.close();
  });
});

describe('who may connect', () => {
  it('refuses an upgrade without a valid token with 401, before any WebSocket opens', async () => {
    for (const options of [{}, { token: 'not-a-jwt' }, { token: await createForeignToken() }]) {
      const b = new Browser(fanout.wsUrl, options);
      await expect(b.opened).rejects.toThrow(/401/);
      expect(JSON.parse(b.unexpectedResponse!.body)).toMatchObject({
        error: { code: expect.any(String) },
      });
    }
  });

  it('accepts the token from the access_token query parameter or the session cookie', async () => {
    const q = new Browser(fanout.wsUrl, { query: { access_token: viewer } });
    await q.opened;
    const c = new Browser(fanout.wsUrl, { headers: { cookie: await signIn(fanout.url, viewer) } });
    await c.opened;
    q.close();
    c.close();
  });

  it('refuses origins that are not allowed with 403, and allows same-origin and listed ones', async () => {
    const evil = new Browser(fanout.wsUrl, { token: viewer, origin: 'https://evil.example' });
    await expect(evil.opened).rejects.toThrow(/403/);
    const same = new Browser(fanout.wsUrl, {
      token: viewer,
      origin: `http://127.0.0.1:${fanout.port}`,
    });
    await same.opened;
    same.close();
    const listed = await startFanout(env, { ALLOWED_ORIGINS: 'https://soc.example' });
    const ok = new Browser(listed.wsUrl, { token: viewer, origin: 'https://soc.example' });
    await ok.opened;
    ok.close();
    await listed.stop();
  });

  it('never logs tokens', async () => {
    const b = new Browser(fanout.wsUrl, { query: { access_token: viewer } });
    await b.opened;
    await fetchDocumented(`${fanout.url}/api/hosts`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    b.close();
    expect(fanout.logs.join('')).not.toContain(viewer);
  });
});

async function createForeignToken() {
  const { createOperatorAuth } = await import('../src/operator-auth.js');
  return createOperatorAuth('another-secret-entirely-0123456789abcdef').issue('mallory', 'admin');
}
