import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type AlertEventData, parsePosition } from '@tripwire/bus';
import {
  type Host,
  insertAlerts,
  markAlertsPublished,
  setHostStatus,
  upsertHost,
} from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FanoutProcess } from '../src/testing/fanout-process.js';
import {
  alertData,
  auth,
  Browser,
  JWT_SECRET,
  publishAlerts,
  publishMessages,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;
let clock = Date.now() * 1000;
let hostCount = 0;
let sequence = 0;

beforeAll(async () => {
  // A small window, so a resume soon reaches past it; small pages, so a backfill takes several.
  fanout = await startFanout(env, {
    HISTORY_MAX_ENTRIES: '500',
    WS_REPLAY_SLICE_FRAMES: '50',
    ALERT_RETENTION_MONTHS: '2',
  });
  viewer = await auth.issue('dora', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
});

/**
 * Two hosts of this test's own: the tests share one database, and a resume from PostgreSQL
 * reaches back by the overlap margin into what earlier tests stored, so each filters on its hosts.
 */
async function fleet(): Promise<[Host, Host]> {
  const host = () =>
    upsertHost(env.pool, {
      hostname: `web-${++hostCount}`,
      platform: 'linux',
      agentVersion: '1.0.0',
      agentTokenHash: randomBytes(32),
    });
  return [await host(), await host()];
}

/** Alerts the agents of these hosts would send one after another (increasing sensor times), alternating. */
function series(
  hosts: Host[],
  n: number,
  pick: (i: number) => Partial<AlertEventData> = () => ({}),
) {
  return Array.from({ length: n }, () => {
    const i = sequence++;
    const host = hosts[i % hosts.length]!;
    clock += 1;
    return alertData({
      host_id: host.hostId,
      hostname: host.hostname,
      timestamp: new Date(Math.floor(clock / 1000)).toISOString(),
      timestamp_us: clock,
      severity: (['INFO', 'WARN', 'CRITICAL'] as const)[i % 3],
      tripwire_type: (['FILE', 'NETWORK'] as const)[Math.floor(i / 2) % 2],
      ...pick(i),
    });
  });
}

/** Stores alerts as one ingest flush (one received_at) does; what the bus then carries. */
async function store(alerts: AlertEventData[], receivedAt?: Date): Promise<AlertEventData[]> {
  const outcome = await insertAlerts(
    env.pool,
    alerts.map((a) => ({
      alertId: a.alert_id,
      hostId: a.host_id,
      occurredAtUs: a.timestamp_us,
      tripwireType: a.tripwire_type,
      severity: a.severity,
      ruleName: a.rule_name,
      eventDetailJson: JSON.stringify(a.event_detail),
    })),
    receivedAt ? { receivedAt } : {},
  );
  const at = outcome.stored[0]!.receivedAt.toISOString();
  return alerts.map((a) => ({ ...a, received_at: at }));
}

/** What ingest does: COMMIT, then publish. */
async function storeAndPublish(alerts: AlertEventData[], receivedAt?: Date) {
  const stored = await store(alerts, receivedAt);
  publishAlerts(env, stored);
  return stored;
}

// Two subscriptions: the fleet's CRITICAL alerts, and its second host's NETWORK alerts of any severity.
const subscriptions = ([a, b]: Host[]) =>
  JSON.stringify([
    {
      subscription_id: 'crit',
      filters: { kinds: ['alert'], severities: ['CRITICAL'], host_ids: [a!.hostId, b!.hostId] },
    },
    {
      subscription_id: 'net',
      filters: { kinds: ['alert'], host_ids: [b!.hostId], tripwire_types: ['NETWORK'] },
    },
  ]);
const wanted =
  ([, b]: Host[]) =>
  (a: AlertEventData) =>
    a.severity === 'CRITICAL' || (a.host_id === b!.hostId && a.tripwire_type === 'NETWORK');

const metric = async (url: string, line: RegExp) =>
  Number(line.exec(await (await fetch(url)).text())?.[1] ?? 0);

/** A position from the browser's last frame, and a watcher that has seen everything published. */
async function positionAfter(alerts: AlertEventData[], receivedAt?: Date, wsUrl = fanout.wsUrl) {
  const watcher = new Browser(wsUrl, { token: viewer });
  await watcher.opened;
  await until(() => watcher.ofType('welcome').length === 1);
  await storeAndPublish(alerts, receivedAt);
  const last = alerts.at(-1)!.alert_id;
  await until(() => watcher.alertIds().includes(last), 10_000, 'the watcher to see the alerts');
  watcher.close();
  return watcher.alerts().find((f) => f.data.alert_id === last)!.position;
}

/** Publishes (stores too) until the fan-out has read them: the window no longer holds `since`. */
async function pushPastWindow(hosts: Host[], wsUrl = fanout.wsUrl) {
  const filler = series(hosts, 600, () => ({ severity: 'INFO', tripwire_type: 'FILE' }));
  await positionAfter(filler, undefined, wsUrl);
  return filler;
}

describe('resume from PostgreSQL', () => {
  it('sends every alert since a position older than the window, once, in order, filtered, while alerts keep flowing, then live', async () => {
    const hosts = await fleet();
    const take = wanted(hosts);
    // Alerts the browser saw, stored well before its position (outside the overlap margin).
    const since = await positionAfter(series(hosts, 5), new Date(Date.now() - 10 * 60_000));
    const missed = await storeAndPublish(series(hosts, 300));
    const filler = await pushPastWindow(hosts);

    const flowing: AlertEventData[] = [];
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        flowing.push(...(await storeAndPublish(series(hosts, 1))));
        // Paced like a busy fleet, not as fast as the machine allows: the window (500 entries)
        // must still hold the hand-over point when the backfill ends.
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const resumer = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since },
    });
    await resumer.opened;
    const matchingBefore = [...missed, ...filler].filter(take).length;
    await until(() => resumer.alerts().length > matchingBefore + 20, 20_000, 'backfill and live');
    sending = false;
    await traffic;
    const last = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    const expected = [...missed, ...filler, ...flowing, ...last].filter(take);
    await until(() => resumer.alerts().length >= expected.length, 20_000, 'every alert');

    expect(resumer.ofType('welcome')[0]!.resume).toEqual({
      since,
      status: 'replayed',
      source: 'database',
    });
    expect(resumer.alertIds()).toEqual(expected.map((a) => a.alert_id));
    expect(resumer.ofType('error')).toEqual([]);
    // Frames from the database carry `since` plus how far the backfill got (backfill-cursor.ts).
    const first = resumer.alerts()[0]!;
    expect(first.position.startsWith(`${since}~`)).toBe(true);
    expect(first.data).toEqual(missed.find(take));
    resumer.close();

    // A browser cut off mid-backfill resumes from the last frame it got: the rest, once.
    const cutAt = resumer.alerts()[9]!.position;
    const again = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since: cutAt },
    });
    await until(() => again.alerts().length >= expected.length - 10, 20_000, 'the rest');
    // Then live, after the rest: nothing more of the backfill comes before this one.
    const marker = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    await until(() => again.alertIds().includes(marker[0]!.alert_id), 20_000, 'the marker');
    expect(again.alertIds()).toEqual([...expected.slice(10), ...marker].map((a) => a.alert_id));
    again.close();

    // Its snapshots (the hosts' states) come first and carry the position it resumed from: cut
    // off before the first alert, it resumes there again, not from `since` (which would send
    // the ten it had once more).
    const snapshots = again.frames.filter((f) => f.snapshot === true);
    expect(snapshots.length).toBeGreaterThan(0);
    expect(snapshots.every((f) => f.position === cutAt)).toBe(true);
    const third = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since: String(snapshots.at(-1)!.position) },
    });
    await until(() => third.alertIds().includes(marker[0]!.alert_id), 20_000, 'the rest again');
    expect(third.alertIds()).toEqual([...expected.slice(10), ...marker].map((a) => a.alert_id));
    third.close();
  });

  it('leaves to the window a row stored long before the hand-over that the ledger marks after it', async () => {
    // Stored before the browser's position, published only now (an ingest's backlog through a
    // Redis outage): its mark is after the window's newest entry, which this node has not read
    // yet. Sent from PostgreSQL (by its old receive time) it would come again through the window.
    const hosts = await fleet();
    const critical = () => ({ severity: 'CRITICAL' as const });
    const newest = parsePosition(await positionAfter(series(await fleet(), 1)));
    // A position 40 s old in an epoch this node never read: only PostgreSQL can serve it.
    const sinceMs = Date.now() - 40_000;
    const since = `zzzzzzzz${sequence.toString(36)}:${sinceMs}-5`;
    const late = await store(series(hosts, 5, critical), new Date(sinceMs - 1_000));
    await markAlertsPublished(
      env.pool,
      late.map((a, i) => ({
        alertId: a.alert_id,
        busEpoch: newest.epoch!,
        busOffset: newest.offset + 1_000_000n + BigInt(i),
      })),
    );
    const resumer = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since },
    });
    // Once this one arrives, the backfill has read its pages: only then are they published.
    const first = await storeAndPublish(series(hosts, 1, critical));
    await until(() => resumer.alertIds().includes(first[0]!.alert_id), 10_000, 'the backfill');
    publishAlerts(env, late);
    await until(() => resumer.alertIds().includes(late.at(-1)!.alert_id), 10_000, 'the late ones');
    expect(resumer.alertIds()).toEqual([...first, ...late].map((a) => a.alert_id));
    resumer.close();
  });

  it('skips what it sent from PostgreSQL when the window replays it after the hand-over', async () => {
    const hosts = await fleet();
    const since = await positionAfter(series(hosts, 1), new Date(Date.now() - 10 * 60_000));
    await pushPastWindow(hosts);
    // Committed before the resume starts, published after it: both sources hold these.
    const committed = await store(series(hosts, 30, () => ({ severity: 'CRITICAL' })));
    const resumer = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since },
    });
    await until(() => resumer.ofType('welcome').length === 1);
    publishAlerts(env, committed);
    const live = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    await until(() => resumer.alertIds().includes(live[0]!.alert_id), 10_000, 'the live alert');
    expect(resumer.alertIds()).toEqual([...committed, ...live].map((a) => a.alert_id));
    resumer.close();
  });

  it('leaves to the window what the bus carries after the hand-over: a browser resuming again from its last position gets none of it twice', async () => {
    const hosts = await fleet();
    const since = await positionAfter(series(hosts, 1), new Date(Date.now() - 10 * 60_000));
    await pushPastWindow(hosts);
    // Committed before the resume, published after it began (its ingest's publish delayed, as
    // by a Redis restart or hang), behind another alert published meanwhile.
    const delayed = await store(series(hosts, 20, () => ({ severity: 'CRITICAL' })));
    const first = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since },
    });
    await until(() => first.ofType('welcome').length === 1);
    const meanwhile = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    publishAlerts(env, delayed);
    const ids = [...meanwhile, ...delayed].map((a) => a.alert_id);
    await until(() => ids.every((id) => first.alertIds().includes(id)), 10_000, 'every alert');
    first.close();

    const again = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { subscriptions: subscriptions(hosts), since: first.alerts().at(-1)!.position },
    });
    await until(() => again.ofType('welcome').length === 1);
    const live = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    await until(() => again.alertIds().includes(live[0]!.alert_id), 10_000, 'the live alert');
    expect(again.alertIds()).toEqual([live[0]!.alert_id]);
    again.close();
    // Each came at its own place on the bus, not from PostgreSQL: the position moved past them.
    const frames = first.alerts().filter((f) => ids.includes(f.data.alert_id));
    expect(frames.map((f) => f.data.alert_id)).toEqual(ids);
    expect(frames.filter((f) => f.position.includes('~'))).toEqual([]);
  });

  it('after a stream gap cleared the window: sends the alerts, then incidents and hosts as snapshots', async () => {
    const hosts = await fleet();
    const ids = hosts.map((h) => h.hostId);
    // An incident last changed long before the position: not part of the snapshot.
    const stale = await store(
      series(hosts, 1, () => ({ severity: 'CRITICAL', rule_name: 'stale' })),
      new Date(Date.now() - 10 * 60_000),
    );
    await env.pool.query(
      `UPDATE incidents SET updated_at = now() - interval '1 hour' WHERE incident_id =
         (SELECT incident_id FROM alerts WHERE alert_id = $1)`,
      [stale[0]!.alert_id],
    );
    // INFO, whatever earlier tests sent: its own (fresh) incident must not match the CRITICAL filter.
    const since = await positionAfter(
      series(hosts, 1, () => ({ severity: 'INFO', rule_name: 'position' })),
      new Date(Date.now() - 10 * 60_000),
    );
    const watcher = new Browser(fanout.wsUrl, { token: viewer });
    await watcher.opened;
    const at = new Date().toISOString();
    publishMessages(env, [
      {
        type: 'gap',
        data: { dropped: 3, first_dropped_at: at, last_dropped_at: at, reason: 'test' },
      },
    ]);
    await until(() => watcher.ofType('error').length === 1, 10_000, 'the stream_gap notice');
    watcher.close();
    const critical = await store(
      series([hosts[0]!], 2, () => ({
        severity: 'CRITICAL',
        tripwire_type: 'FILE',
        rule_name: 'fresh',
      })),
    );
    await store(series(hosts, 1, () => ({ severity: 'WARN', rule_name: 'quiet' })));
    const online = await setHostStatus(env.pool, hosts[1]!.hostId, 'online');

    const resumer = new Browser(fanout.wsUrl, {
      token: viewer,
      query: {
        since,
        subscriptions: JSON.stringify([
          {
            subscription_id: 'a',
            filters: { kinds: ['alert'], severities: ['CRITICAL'], host_ids: ids },
          },
          {
            subscription_id: 'i',
            filters: { kinds: ['incident'], severities: ['CRITICAL'], host_ids: ids },
          },
        ]),
      },
    });
    await until(() => resumer.alertIds().length === 2, 10_000, 'the stored alerts');
    const live = await storeAndPublish(series(hosts, 1, () => ({ severity: 'CRITICAL' })));
    await until(() => resumer.alertIds().length === 3, 10_000, 'the live alert');

    expect(resumer.ofType('welcome')[0]!.resume).toMatchObject({ source: 'database' });
    expect(resumer.alertIds()).toEqual([...critical, ...live].map((a) => a.alert_id));
    const hostFrames = resumer.ofType('host');
    expect(hostFrames.every((h) => h.snapshot === true && h.position === since)).toBe(true);
    expect(hostFrames.find((h) => (h.data as { host_id: string }).host_id === ids[1])).toEqual({
      type: 'host',
      position: since,
      snapshot: true,
      data: expect.objectContaining({ status: 'online', version: online!.statusVersion }),
    });
    // Incidents changed since the position and matching the filter, as they stand now: the
    // stale one and the WARN one are left out.
    expect(resumer.ofType('incident')).toEqual([
      {
        type: 'incident',
        position: since,
        snapshot: true,
        data: {
          event: 'updated',
          incident: expect.objectContaining({ rule_name: 'fresh', alert_count: 2 }),
        },
      },
    ]);
    resumer.close();
  });

  it('waits for a node behind the position, and never sends frames at or before it', async () => {
    const hosts = await fleet();
    const head = await positionAfter(series(hosts, 1));
    // The browser saw three entries this node has not read yet.
    const since = head.replace(/\d+$/, (offset) => String(BigInt(offset) + 3n));
    const resumer = new Browser(fanout.wsUrl, {
      token: viewer,
      query: { since, host_id: hosts[0]!.hostId },
    });
    await until(
      async () => (await metric(fanout.metricsUrl, /resume_catch_up_waits_total (\d+)/)) === 1,
      10_000,
      'the resume to wait for this node',
    );
    const next = series([hosts[0]!], 5);
    publishAlerts(env, next);
    await until(() => resumer.alerts().length >= 2, 10_000, 'the alerts after the position');
    expect(resumer.ofType('welcome')[0]!.resume).toEqual({
      since,
      status: 'replayed',
      source: 'memory',
      count: 2,
    });
    expect(resumer.alertIds()).toEqual(next.slice(3).map((a) => a.alert_id));
    resumer.close();
  });

  it('serves a node still behind after WS_RESUME_CATCH_UP_MS from PostgreSQL, skipping what it reads later up to the position', async () => {
    const hosts = await fleet();
    const lagging = await startFanout(env, { WS_RESUME_CATCH_UP_MS: '0' });
    const head = await positionAfter(series(hosts, 1), new Date(Date.now() - 10 * 60_000));
    const since = head.replace(/\d+$/, (offset) => String(BigInt(offset) + 3n));
    const resumer = new Browser(lagging.wsUrl, {
      token: viewer,
      query: { since, host_id: hosts[0]!.hostId },
    });
    await until(() => resumer.ofType('welcome').length === 1);
    expect(resumer.ofType('welcome')[0]!.resume).toMatchObject({ source: 'database' });
    const next = series([hosts[0]!], 6);
    publishAlerts(env, next);
    await until(() => resumer.alertIds().includes(next[5]!.alert_id), 10_000, 'the last alert');
    expect(resumer.alertIds()).toEqual(next.slice(3).map((a) => a.alert_id));
    resumer.close();
    await lagging.stop();
  });

  it('says which source served a resume, and unavailable only beyond retention or for a non-position', async () => {
    const recent = await positionAfter(series(await fleet(), 1));
    const answer = async (since: string) => {
      const b = new Browser(fanout.wsUrl, { token: viewer, query: { since, kind: 'incident' } });
      await until(() => b.ofType('welcome').length === 1);
      b.close();
      return b.ofType('welcome')[0]!.resume;
    };
    expect(await answer(recent)).toEqual({
      since: recent,
      status: 'replayed',
      source: 'memory',
      count: 0,
    });
    // Older than any window, within retention (2 months): the database.
    const lastWeek = `${Date.now() - 7 * 86_400_000}-1`;
    expect(await answer(lastWeek)).toMatchObject({ status: 'replayed', source: 'database' });
    const beyond = `${Date.now() - 100 * 86_400_000}-1`;
    expect(await answer(beyond)).toMatchObject({
      status: 'unavailable',
      reason: expect.stringMatching(/older than alert retention/),
    });
    expect(await answer('yesterday')).toMatchObject({
      status: 'unavailable',
      reason: expect.stringMatching(/not a stream position/),
    });
  });
});

describe('a big backfill to a slow reader', () => {
  it('reads PostgreSQL a page at a time as the reader drains: 20,000 alerts, each once, in order', async () => {
    const hosts = await fleet();
    const service = await FanoutProcess.create(env, JWT_SECRET, {
      HISTORY_MAX_ENTRIES: '500',
      WS_REPLAY_SLICE_FRAMES: '200',
      WS_MAX_BACKPRESSURE_BYTES: String(256 * 1024),
    });
    await service.start();
    try {
      const since = await positionAfter(series(hosts, 1), new Date(Date.now() - 10 * 60_000));
      const filler = await pushPastWindow(hosts, service.wsUrl);
      const padding = 'x'.repeat(2000);
      const stored: AlertEventData[] = [];
      for (let chunk = 0; chunk < 20; chunk++) {
        stored.push(...(await store(series(hosts, 1000, () => ({ event_detail: { padding } })))));
      }
      const expected = [...filler, ...stored].map((a) => a.alert_id);
      const resumer = new Browser(service.wsUrl, {
        token: viewer,
        query: { since, host_id: hosts.map((h) => h.hostId).join(',') },
      });
      const socket = () => (resumer.ws as unknown as { _socket: Socket })._socket;
      resumer.ws.once('open', () => socket().pause());
      await resumer.opened;
      await until(
        async () => (await metric(service.metricsUrl, /replay_pauses_total (\d+)/)) > 0,
        20_000,
        'the backfill to pause for the reader',
      );
      // It paused long before reading everything: PostgreSQL is read as the reader drains.
      const sent = await metric(
        service.metricsUrl,
        /tripwire_fanout_backfill_frames_total\{kind="alert"\} (\d+)/,
      );
      expect(sent).toBeLessThan(expected.length / 2);
      socket().resume();
      await until(() => resumer.alerts().length >= expected.length, 60_000, 'every alert');
      expect(resumer.alertIds()).toEqual(expected);
      expect(resumer.ofType('error')).toEqual([]);
      resumer.close();
    } finally {
      await service.stop();
    }
  });
});
