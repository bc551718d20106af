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
let fanout: RunningFanout;
let viewer: string;

beforeAll(async () => {
  fanout = await startFanout(env, { HISTORY_MAX_ENTRIES: '200', ALERT_RETENTION_MONTHS: '1' });
  viewer = await auth.issue('rita', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
});

describe('resume', () => {
  it('replays exactly what was missed, in order, during live traffic, then continues live with no gap', async () => {
    const query = { severity: 'CRITICAL' };
    const first = new Browser(fanout.wsUrl, { token: viewer, query });
    await first.opened;
    await until(() => first.ofType('welcome').length === 1);
    let sending = true;
    const sent: Array<ReturnType<typeof alertData>> = [];
    const traffic = (async () => {
      let i = 0;
      while (sending) {
        const a = alertData({ severity: i % 3 === 0 ? 'INFO' : 'CRITICAL' });
        sent.push(a);
        publishAlerts(env, [a]);
        i++;
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    await until(() => first.alerts().length >= 10);
    first.ws.terminate();
    await first.closed;
    const lastSeen = first.alerts().at(-1)!;
    // Traffic goes on while no browser is connected: the resume has something to replay.
    const sentAtClose = sent.length;
    await until(() => sent.length >= sentAtClose + 20);

    const second = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { ...query, since: lastSeen.position },
    });
    await second.opened;
    // The replay is done and live alerts follow it.
    const resumedAt = sent.length;
    await until(() => sent.length >= resumedAt + 20 && second.alerts().length > 20);
    sending = false;
    await traffic;
    await env.publisher.drain();
    const expected = sent.filter((a) => a.severity === 'CRITICAL').map((a) => a.alert_id);
    await until(
      () => first.alertIds().length + second.alertIds().length >= expected.length,
      10_000,
      'all alerts',
    );

    const welcome = second.ofType('welcome')[0]!;
    expect(welcome.resume).toMatchObject({
      since: lastSeen.position,
      status: 'replayed',
      source: 'memory',
    });
    // Together, the two connections saw every matching alert exactly once, in order.
    expect([...first.alertIds(), ...second.alertIds()]).toEqual(expected);
    const positions = second.alerts().map((a) => a.position);
    expect(new Set(positions).size).toBe(positions.length);
    second.close();
  });

  it('serves a position older than the history window from PostgreSQL, and says plainly when it is beyond retention', async () => {
    const early = new Browser(fanout.wsUrl, { token: viewer });
    await early.opened;
    publishAlerts(env, [alertData()]);
    await until(() => early.alerts().length === 1);
    const old = early.alerts()[0]!.position;
    publishAlerts(
      env,
      Array.from({ length: 250 }, () => alertData()),
    );
    // Once a connected browser has all 251, the fan-out has read them: its 200-frame history
    // no longer reaches back to `old`.
    await until(() => early.alerts().length === 251);
    early.close();
    await env.publisher.drain();
    await until(async () => {
      const probe = new Browser(fanout.wsUrl, { token: viewer, query: { since: old } });
      await until(() => probe.ofType('welcome').length === 1);
      probe.close();
      return (probe.ofType('welcome')[0]!.resume as { source?: string }).source === 'database';
    });

    // ALERT_RETENTION_MONTHS=1: a position from three months ago is beyond what PostgreSQL keeps.
    const beyond = `${Date.now() - 90 * 86_400_000}-1`;
    const late = new Browser(fanout.wsUrl, { token: viewer, query: { since: beyond } });
    await late.opened;
    await until(() => late.ofType('error').length === 1);
    expect(late.ofType('welcome')[0]!.resume).toMatchObject({
      status: 'unavailable',
      reason: expect.stringMatching(/older than alert retention/),
      oldest_position: expect.any(String),
    });
    expect(late.ofType('error')[0]).toMatchObject({
      code: 'resume_unavailable',
      message: expect.stringMatching(/reload from \/api\/alerts/),
    });
    expect(late.alerts()).toEqual([]);
    const metrics = await (await fetch(fanout.metricsUrl)).text();
    expect(metrics).toMatch(/tripwire_fanout_resumes_total\{outcome="unavailable"\} 1/);
    expect(metrics).toMatch(/tripwire_fanout_resumes_total\{outcome="database"\} [1-9]/);
    late.close();
  });

  it('lets a browser resume on a fan-out node that started after it disconnected', async () => {
    const b = new Browser(fanout.wsUrl, { token: viewer });
    await b.opened;
    publishAlerts(env, [alertData()]);
    await until(() => b.alerts().length === 1);
    const position = b.alerts()[0]!.position;
    b.close();
    const missed = Array.from({ length: 5 }, () => alertData());
    publishAlerts(env, missed);
    await env.publisher.drain();

    const fresh = await startFanout(env);
    const again = new Browser(fresh.wsUrl, { token: viewer, query: { since: position } });
    await again.opened;
    await until(() => again.alerts().length === 5);
    expect(again.alertIds()).toEqual(missed.map((a) => a.alert_id));
    again.close();
    await fresh.stop();
  });
});
