// Issue 13, row 7: one operator or one address cannot hold every socket, topic and replay of a
// node. Each cap answers with its own code, is counted, and leaves everyone else served.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
const running: RunningFanout[] = [];
afterAll(async () => {
  await Promise.all(running.map((f) => f.stop()));
});

async function fanoutWith(overrides: Record<string, string>) {
  const fanout = await startFanout(env, overrides);
  running.push(fanout);
  return fanout;
}

const metric = async (fanout: RunningFanout, line: RegExp) =>
  Number(line.exec(await (await fetch(fanout.metricsUrl)).text())?.[1] ?? 0);

/** Opens, or resolves with the refusal's status and JSON body. */
async function connect(url: string, options: ConstructorParameters<typeof Browser>[1]) {
  const browser = new Browser(url, options);
  try {
    await browser.opened;
    return { browser, refused: null };
  } catch {
    const r = browser.unexpectedResponse!;
    return { browser, refused: { status: r.status, body: JSON.parse(r.body) } };
  }
}

describe('connections per operator and per address', () => {
  let fanout: RunningFanout;
  beforeAll(async () => {
    fanout = await fanoutWith({
      WS_MAX_CONNECTIONS_PER_OPERATOR: '2',
      WS_MAX_CONNECTIONS_PER_ADDRESS: '3',
      TRUST_PROXY: 'true',
    });
  });

  it('refuses an operator’s third socket with 429 until one closes', async () => {
    const token = await auth.issue('mallory', 'viewer');
    const a = await connect(fanout.wsUrl, { token });
    const b = await connect(fanout.wsUrl, { token });
    expect([a.refused, b.refused]).toEqual([null, null]);
    const c = await connect(fanout.wsUrl, { token });
    expect(c.refused).toMatchObject({
      status: 429,
      body: { error: { code: 'too_many_connections' } },
    });
    expect(
      await metric(
        fanout,
        /tripwire_fanout_limits_hit_total\{limit="connections_per_operator"\} (\d+)/,
      ),
    ).toBe(1);
    // Another operator is not affected.
    const other = await connect(fanout.wsUrl, { token: await auth.issue('olga', 'viewer') });
    expect(other.refused).toBeNull();
    // Closing one frees its place.
    a.browser.close();
    await a.browser.closed;
    await until(async () => {
      const again = await connect(fanout.wsUrl, { token });
      again.browser.close();
      return again.refused === null;
    });
    b.browser.close();
    other.browser.close();
  });

  it('counts the address the balancer appended to X-Forwarded-For, not what the client wrote', async () => {
    const from = (spoof: string) => ({ 'x-forwarded-for': `${spoof}, 203.0.113.7` });
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      const s = await connect(fanout.wsUrl, {
        token: await auth.issue(`op-${i}`, 'viewer'),
        headers: from(`10.0.0.${i}`),
      });
      expect(s.refused).toBeNull();
      sockets.push(s.browser);
    }
    const fourth = await connect(fanout.wsUrl, {
      token: await auth.issue('op-3', 'viewer'),
      headers: from('10.9.9.9'),
    });
    expect(fourth.refused).toMatchObject({
      status: 429,
      body: { error: { code: 'too_many_connections', message: expect.stringMatching(/address/) } },
    });
    const elsewhere = await connect(fanout.wsUrl, {
      token: await auth.issue('op-4', 'viewer'),
      headers: { 'x-forwarded-for': '198.51.100.1' },
    });
    expect(elsewhere.refused).toBeNull();
    for (const s of [...sockets, elsewhere.browser]) s.close();
  });

  it('counts the last X-Forwarded-For line: a forged line before the balancer’s does not count', async () => {
    // What HAProxy's `option forwardfor` sends: the client's own line first, its line after.
    const forged = (i: number) => ({ 'x-forwarded-for': [`10.9.9.${i}`, '192.0.2.44'] });
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      const s = await connect(fanout.wsUrl, {
        token: await auth.issue(`lines-${i}`, 'viewer'),
        headers: forged(i),
      });
      expect(s.refused).toBeNull();
      sockets.push(s.browser);
    }
    const fourth = await connect(fanout.wsUrl, {
      token: await auth.issue('lines-3', 'viewer'),
      headers: { 'x-forwarded-for': ['10.9.9.3, 10.9.9.4', '198.51.100.9, 192.0.2.44'] },
    });
    expect(fourth.refused).toMatchObject({
      status: 429,
      body: { error: { code: 'too_many_connections', message: expect.stringMatching(/address/) } },
    });
    // Another address is still served.
    const other = await connect(fanout.wsUrl, {
      token: await auth.issue('lines-4', 'viewer'),
      headers: { 'x-forwarded-for': ['192.0.2.44', '192.0.2.45'] },
    });
    expect(other.refused).toBeNull();
    for (const s of [...sockets, other.browser]) s.close();
  });
});

describe('distinct topics per node', () => {
  it('refuses a subscribe that needs a topic beyond WS_MAX_TOPICS; the socket keeps what it had', async () => {
    const fanout = await fanoutWith({ WS_MAX_TOPICS: '2' });
    const token = await auth.issue('tess', 'viewer');
    const critical = new Browser(fanout.wsUrl, { token, query: { severity: 'CRITICAL' } });
    const warn = new Browser(fanout.wsUrl, { token, query: { severity: 'WARN' } });
    await Promise.all([critical.opened, warn.opened]);
    await until(() => critical.ofType('welcome').length + warn.ofType('welcome').length === 2);
    critical.send({
      type: 'subscribe',
      subscription_id: 'more',
      filters: { severities: ['INFO'] },
    });
    await until(() => critical.ofType('error').length === 1);
    expect(critical.ofType('error')[0]).toMatchObject({
      code: 'too_many_topics',
      subscription_id: 'more',
    });
    // A third filter set on a new socket: welcomed without it, and told why.
    const info = new Browser(fanout.wsUrl, { token, query: { severity: 'INFO' } });
    await info.opened;
    await until(() => info.ofType('error').length === 1);
    expect(info.ofType('welcome')[0]).toMatchObject({ subscriptions: [] });
    expect(info.ofType('error')[0]).toMatchObject({ code: 'too_many_topics' });

    publishAlerts(env, [alertData({ severity: 'INFO' }), alertData({ severity: 'CRITICAL' })]);
    await until(() => critical.alerts().length === 1);
    expect(critical.alerts()[0]!.data.severity).toBe('CRITICAL');
    expect(await metric(fanout, /tripwire_fanout_limits_hit_total\{limit="topics"\} (\d+)/)).toBe(
      2,
    );
    for (const b of [critical, warn, info]) b.close();
  });
});

describe('resumes per operator per minute', () => {
  it('answers a resume over the limit as unavailable (rate_limited), and others still resume', async () => {
    const fanout = await fanoutWith({ WS_RESUMES_PER_MINUTE: '1' });
    const token = await auth.issue('rex', 'viewer');
    const live = new Browser(fanout.wsUrl, { token });
    await live.opened;
    publishAlerts(env, [alertData(), alertData()]);
    await until(() => live.alerts().length === 2);
    const since = live.alerts()[0]!.position;

    const first = new Browser(fanout.wsUrl, { token, query: { since } });
    await until(() => first.alerts().length === 1);
    expect(first.ofType('welcome')[0]!.resume).toMatchObject({ status: 'replayed', count: 1 });
    const second = new Browser(fanout.wsUrl, { token, query: { since } });
    await until(() => second.ofType('error').length === 1);
    expect(second.ofType('welcome')[0]!.resume).toMatchObject({
      since,
      status: 'unavailable',
      reason: 'rate_limited',
    });
    expect(second.ofType('error')[0]).toMatchObject({ code: 'resume_unavailable' });
    expect(second.alerts()).toEqual([]);

    const other = new Browser(fanout.wsUrl, {
      token: await auth.issue('rosa', 'viewer'),
      query: { since },
    });
    await until(() => other.alerts().length === 1);
    expect(
      await metric(fanout, /tripwire_fanout_resumes_total\{outcome="rate_limited"\} (\d+)/),
    ).toBe(1);
    for (const b of [live, first, second, other]) b.close();
  });
});

describe('the resume replay in slices', () => {
  it('replays thousands of frames paced by the reader, while alerts keep coming: each once, in order', async () => {
    const fanout = await fanoutWith({ WS_REPLAY_SLICE_FRAMES: '100' });
    const token = await auth.issue('rhea', 'viewer');
    const watcher = new Browser(fanout.wsUrl, { token });
    await watcher.opened;
    const first = alertData();
    publishAlerts(env, [first]);
    await until(() => watcher.alerts().length === 1);
    const since = watcher.alerts()[0]!.position;

    // Large enough frames that the replay outruns the kernel's socket buffers.
    const padding = 'x'.repeat(1500);
    const batch = (n: number) =>
      Array.from({ length: n }, () =>
        alertData({ event_detail: { path: '/etc/passwd', padding } }),
      );
    const missed = Array.from({ length: 8 }, () => batch(500));
    for (const chunk of missed) publishAlerts(env, chunk);
    await env.publisher.drain();
    await until(() => watcher.alerts().length === 4001, 20_000, 'the watcher to see 4,001 alerts');

    const resumer = new Browser(fanout.wsUrl, { token, query: { since } });
    // Stop reading as soon as the socket is open: the replay must wait for it, not flood it.
    resumer.ws.once('open', () => (resumer.ws as unknown as { _socket: Socket })._socket.pause());
    await resumer.opened;
    const during = Array.from({ length: 20 }, () => batch(50));
    const traffic = (async () => {
      for (const chunk of during) {
        publishAlerts(env, chunk);
        await env.publisher.drain();
      }
    })();
    await until(
      async () => (await metric(fanout, /tripwire_fanout_replay_pauses_total (\d+)/)) > 0,
      20_000,
      'the replay to pause for the reader',
    );
    (resumer.ws as unknown as { _socket: Socket })._socket.resume();
    await traffic;
    const expected = [...missed.flat(), ...during.flat()].map((a) => a.alert_id);
    await until(() => resumer.alertIds().length >= expected.length, 30_000, 'every alert');
    expect(resumer.ofType('welcome')[0]!.resume).toMatchObject({ status: 'replayed' });
    expect(resumer.alertIds()).toEqual(expected);
    expect(resumer.ofType('error')).toEqual([]);
    // The paused reader was paced, not cut off as a slow consumer; the node still serves.
    publishAlerts(env, [alertData()]);
    await until(() => resumer.alertIds().length === expected.length + 1);
    for (const b of [watcher, resumer]) b.close();
  });

  it('closes a resume whose reader stopped reading with 4008 once the replay has waited WS_REPLAY_STALL_MS', async () => {
    // The replay pauses at half WS_MAX_BACKPRESSURE_BYTES, below the slow-consumer limit: only
    // the stall deadline can close it.
    const fanout = await fanoutWith({ WS_REPLAY_STALL_MS: '300' });
    const token = await auth.issue('stan', 'viewer');
    const watcher = new Browser(fanout.wsUrl, { token });
    await watcher.opened;
    publishAlerts(env, [alertData()]);
    await until(() => watcher.alerts().length === 1);
    const since = watcher.alerts()[0]!.position;
    const padding = 'y'.repeat(4000);
    const missed = Array.from({ length: 2500 }, () =>
      alertData({ event_detail: { path: '/etc/shadow', padding } }),
    );
    // Paced by the watcher, so that it is never a slow consumer itself.
    for (let i = 0; i < missed.length; i += 100) {
      publishAlerts(env, missed.slice(i, i + 100));
      await until(() => watcher.alerts().length === i + 101, 20_000, 'the watcher to keep up');
    }

    const stalled = new Browser(fanout.wsUrl, { token, query: { since } });
    const socket = () => (stalled.ws as unknown as { _socket: Socket })._socket;
    stalled.ws.once('open', () => socket().pause());
    await stalled.opened;
    const slowCloses = () => metric(fanout, /^tripwire_fanout_slow_consumer_closes_total (\d+)/m);
    await until(async () => (await slowCloses()) === 1, 20_000, 'the stalled replay to be closed');
    // Reading again, the client gets what was buffered, then the close frame with its code.
    socket().resume();
    expect((await stalled.closed).code).toBe(4008);
    expect(stalled.alerts().length).toBeLessThan(missed.length);
    // The watcher is still served, and a new resume from the same position replays everything.
    const after = alertData();
    publishAlerts(env, [after]);
    await until(() => watcher.alertIds().includes(after.alert_id));
    const again = new Browser(fanout.wsUrl, { token, query: { since } });
    await until(() => again.alerts().length === missed.length + 1, 20_000, 'the full replay');
    expect(await slowCloses()).toBe(1);
    for (const b of [watcher, again]) b.close();
  });
});
