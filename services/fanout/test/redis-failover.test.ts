// A fan-out on Redis behind Sentinel (REDIS_SENTINELS), browsers connected, alerts flowing (each
// stored in PostgreSQL, then published, as ingest does), and the Redis primary killed: the
// Sentinel promotes the replica, the publisher and the fan-out follow it by themselves, the
// stream starts a new epoch, and every browser is told (`stream_gap`).
//
// What a user sees, compared with what PostgreSQL stored: a browser that reconnects with
// `since=` its last position when told gets every alert exactly once, in order per host (the
// old epoch's position is served from PostgreSQL, without the alerts it had, then live); one
// that stays connected gets nothing twice or out of order, and misses at most what the old
// primary took but never passed on (it was told: reloading, or reconnecting with `since=`, gets
// those back).
import {
  type AlertEventData,
  BusPublisher,
  createRedisClient,
  parsePosition,
  serializeAlertMessage,
} from '@tripwire/bus';
import {
  type RedisSentinelGroup,
  RedisServerProcess,
  startRedisSentinelGroup,
} from '@tripwire/test-fixtures';
import type { Severity } from '@tripwire/wire';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  type RunningFanout,
  startFanout,
  storeAlerts,
  testHost,
  until,
  useEnvironment,
} from './fanout-harness.js';

const installed = RedisServerProcess.installed('redis-sentinel');
const title = installed
  ? 'a Redis failover under a live fan-out'
  : 'a Redis failover under a live fan-out (SKIPPED: redis-sentinel is not installed)';

const env = useEnvironment();
let group: RedisSentinelGroup;
let publisherRedis: Redis;
let publisher: BusPublisher;
let fanout: RunningFanout;
let viewer: string;

beforeAll(async () => {
  if (!installed) return;
  group = await startRedisSentinelGroup();
  publisherRedis = createRedisClient(group.primary.url, {
    sentinels: [{ host: '127.0.0.1', port: group.sentinel.port }],
    sentinelName: group.name,
    failFastWhileDisconnected: true,
    commandTimeoutMs: 1_000,
    onError: () => {},
  });
  publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: env.keyPrefix, maxChunk: 5 });
  fanout = await startFanout(
    env,
    {
      BUS_READ_BLOCK_MS: '200',
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      REDIS_SENTINELS: group.sentinels,
      REDIS_SENTINEL_NAME: group.name,
    },
    group.primary.url,
  );
  viewer = await auth.issue('rita', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
  publisherRedis?.disconnect();
  await group?.stop();
});

type Resume = { since?: string; status?: string; source?: string };
type Alert = { position: string; data: { alert_id: string; host_id: string } };

/**
 * A browser that, told `stream_gap`, stops reading that socket and reconnects with `since=` the
 * last position it saw (reconnectOnGap), or stays.
 */
class Viewer {
  /** Each socket, and how many of its frames the viewer read before leaving it. */
  readonly connections: Array<{ browser: Browser; readUpTo?: number }> = [];

  constructor(
    readonly name: string,
    private readonly query: Record<string, string>,
    private readonly reconnectOnGap: boolean,
  ) {
    this.connect();
  }

  private frames() {
    return this.connections.flatMap((c) => c.browser.frames.slice(0, c.readUpTo));
  }

  alerts(): Alert[] {
    return this.frames().filter((f) => f.type === 'alert') as never;
  }

  notices(code: string) {
    return this.frames().filter((f) => f.type === 'error' && f.code === code);
  }

  resumes(): Resume[] {
    return this.frames()
      .filter((f) => f.type === 'welcome')
      .map((w) => (w.resume ?? {}) as Resume);
  }

  private connect(since?: string) {
    const query = since ? { ...this.query, since } : this.query;
    const connection: { browser: Browser; readUpTo?: number } = {
      browser: new Browser(fanout.wsUrl, { token: viewer, query }),
    };
    this.connections.push(connection);
    const b = connection.browser;
    b.ws.on('message', () => {
      const frame = b.frames.at(-1)!;
      if (!this.reconnectOnGap || connection.readUpTo !== undefined) return;
      if (frame.type === 'error' && frame.code === 'stream_gap') {
        connection.readUpTo = b.frames.length;
        b.ws.close();
        this.connect(this.alerts().at(-1)?.position);
      }
    });
  }
}

describe.skipIf(!installed)(title, () => {
  it('follows the promoted replica; a browser that resumes after the reset gets every stored alert once, in order per host', async () => {
    const viewers = [
      new Viewer('stays, everything', {}, false),
      new Viewer('resumes, everything', {}, true),
      new Viewer('resumes, CRITICAL', { severity: 'CRITICAL' }, true),
    ];
    await until(() => viewers.every((v) => v.resumes().length === 1), 10_000, 'the welcomes');
    const hosts = await Promise.all([1, 2, 3].map((n) => testHost(env.pool, `web-0${n}`)));
    let clock = Date.now() * 1000;
    /** COMMIT, then publish, as ingest does. */
    const send = async (i: number, severity: Severity = i % 3 ? 'CRITICAL' : 'INFO') => {
      const host = hosts[i % hosts.length]!;
      clock += 1;
      const alert = alertData({
        host_id: host.hostId,
        hostname: host.hostname,
        timestamp_us: clock,
        severity,
      });
      const [{ event_detail, ...rest }] = (await storeAlerts(env.pool, [alert])) as [
        AlertEventData,
      ];
      publisher.publishSerialized([serializeAlertMessage(rest, JSON.stringify(event_detail))]);
      return alert.alert_id;
    };
    let sending = true;
    let count = 0;
    const traffic = (async () => {
      while (sending) {
        await send(count++);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const [stays] = viewers as [Viewer, ...Viewer[]];
    await until(() => stays.alerts().length >= 50, 10_000, 'traffic before the failover');
    const firstEpoch = parsePosition(stays.alerts()[0]!.position).epoch;
    // The replica stops taking the primary's writes (hung for less than the Sentinel's
    // down-after, so it stays eligible, and its link cut so that nothing more reaches it): what
    // the primary appends now is lost with it, and the promoted replica hands out those offsets
    // again.
    group.replica.signal('SIGSTOP');
    const admin = createRedisClient(group.primary.url);
    await admin.client('KILL', 'TYPE', 'REPLICA');
    admin.disconnect();
    const seen = stays.alerts().length;
    await until(() => stays.alerts().length >= seen + 20, 10_000, 'writes the replica lacks');
    const lastOldOffset = parsePosition(stays.alerts().at(-1)!.position).offset;
    await group.primary.kill();
    group.replica.signal('SIGCONT');
    const inNewEpoch = (v: Viewer) =>
      v.alerts().filter((a) => parsePosition(a.position).epoch !== firstEpoch).length;
    await until(() => inNewEpoch(stays) >= 100, 30_000, 'traffic through the promoted replica');
    sending = false;
    await traffic;
    expect(await publisher.drain(10_000)).toBe(true);
    // The last alert, live for everyone (CRITICAL: every filter takes it): each resume is over
    // once it arrives.
    const last = await send(count++, 'CRITICAL');
    await until(
      () => viewers.every((v) => v.alerts().some((a) => a.data.alert_id === last)),
      20_000,
      'the last alert',
    );

    // The new epoch reused offsets of the old one: positions without the epoch would collide.
    const firstNewOffset = parsePosition(
      stays.alerts().find((a) => parsePosition(a.position).epoch !== firstEpoch)!.position,
    ).offset;
    expect(firstNewOffset).toBeLessThanOrEqual(lastOldOffset);

    // What PostgreSQL stored, in the order it was stored: what the browsers should have seen.
    const { rows: stored } = await env.pool.query<{
      alert_id: string;
      host_id: string;
      severity: string;
    }>('SELECT alert_id, host_id, severity FROM alerts ORDER BY received_at, occurred_at');
    expect(stored.length).toBe(count);
    const summary: string[] = [];
    for (const v of viewers) {
      const wanted = stored.filter(
        (a) => !v.name.includes('CRITICAL') || a.severity === 'CRITICAL',
      );
      const got = v.alerts().map((a) => a.data.alert_id);
      expect(new Set(got).size, `${v.name}: no repeats`).toBe(got.length);
      const rank = new Map(wanted.map((a, i) => [a.alert_id, i]));
      expect(
        got.filter((id) => !rank.has(id)),
        `${v.name}: only matching alerts`,
      ).toEqual([]);
      for (const host of hosts) {
        const ranks = v
          .alerts()
          .filter((a) => a.data.host_id === host.hostId)
          .map((a) => rank.get(a.data.alert_id)!);
        expect(ranks, `${v.name}: in order on ${host.hostname}`).toEqual(
          [...ranks].sort((a, b) => a - b),
        );
      }
      expect(v.notices('stream_gap').length, `${v.name}: told`).toBeGreaterThanOrEqual(1);
      const missing = wanted.filter((a) => !got.includes(a.alert_id)).map((a) => a.alert_id);
      if (v.connections.length > 1) {
        // Resumed with a position of the old epoch: PostgreSQL served it, never reused offsets.
        const resumes = v.resumes().filter((r) => r.since);
        expect(resumes.length, `${v.name}: resumed`).toBeGreaterThan(0);
        for (const r of resumes) {
          if (parsePosition(r.since!).epoch !== firstEpoch) continue;
          expect(r, `${v.name}: resume`).toMatchObject({ status: 'replayed', source: 'database' });
        }
        expect(missing, `${v.name}: every stored alert`).toEqual([]);
      }
      summary.push(
        `${v.name}: ${got.length}/${wanted.length} alerts, ${missing.length} missing, ${v.connections.length} connections`,
      );
    }
    // A browser that stayed connected misses at most what the old primary took but never
    // passed on: everything stored after the first alert of the new epoch arrived.
    const firstNew = stays.alerts().find((a) => parsePosition(a.position).epoch !== firstEpoch)!;
    const from = stored.findIndex((a) => a.alert_id === firstNew.data.alert_id);
    const stayedIds = new Set(stays.alerts().map((a) => a.data.alert_id));
    expect(stored.slice(from).filter((a) => !stayedIds.has(a.alert_id))).toEqual([]);
    const reused = lastOldOffset - firstNewOffset + 1n;
    console.info(
      `Redis failover, ${count} alerts, ${reused} offsets reused: ${summary.join('; ')}`,
    );
    for (const v of viewers) for (const c of v.connections) c.browser.close();
  });
});
