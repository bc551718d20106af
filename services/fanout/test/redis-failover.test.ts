// A fan-out on Redis behind Sentinel (REDIS_SENTINELS), browsers connected, alerts flowing, and
// the Redis primary killed: the Sentinel promotes the replica, the publisher and the fan-out
// follow it by themselves, the stream starts a new epoch, and every browser is told.
//
// What this proves on the bus alone: nothing is sent twice or out of order; a browser that
// stays connected misses nothing published after the reset; a browser that reconnects with
// `since=` from before the reset is never "replayed" from reused offsets; and a browser that
// misses anything was told so (`stream_gap`, and a refused resume). Exactly once for the
// reconnecting browsers needs the PostgreSQL backfill of such a `since` (docs/fanout.md).
import {
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
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  type RunningFanout,
  startFanout,
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

type Resume = { since?: string; status?: string };

/** A browser that, told `stream_gap`, reconnects with `since=` its last position (or stays). */
class Viewer {
  readonly connections: Browser[] = [];

  constructor(
    readonly name: string,
    private readonly query: Record<string, string>,
    private readonly reconnectOnGap: boolean,
  ) {
    this.connect();
  }

  alerts() {
    return this.connections.flatMap((b) => b.alerts());
  }

  notices(code: string) {
    return this.connections.flatMap((b) => b.ofType('error').filter((f) => f.code === code));
  }

  resumes(): Resume[] {
    return this.connections.flatMap((b) =>
      b.ofType('welcome').map((w) => (w.resume ?? {}) as Resume),
    );
  }

  private connect(since?: string) {
    const query = since ? { ...this.query, since } : this.query;
    const b = new Browser(fanout.wsUrl, { token: viewer, query });
    this.connections.push(b);
    b.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; code?: string };
      if (this.reconnectOnGap && frame.type === 'error' && frame.code === 'stream_gap') {
        b.ws.close();
        this.connect(this.alerts().at(-1)?.position);
      }
    });
  }
}

describe.skipIf(!installed)(title, () => {
  it('follows the promoted replica, tells every browser, and never repeats or replays reused offsets', async () => {
    const viewers = [
      new Viewer('stays, everything', {}, false),
      new Viewer('resumes, everything', {}, true),
      new Viewer('resumes, CRITICAL', { severity: 'CRITICAL' }, true),
    ];
    await until(
      () => viewers.every((v) => v.connections[0]!.ofType('welcome').length === 1),
      10_000,
      'the welcomes',
    );
    const sent: ReturnType<typeof alertData>[] = [];
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        const a = alertData({ severity: i % 3 ? 'CRITICAL' : 'INFO' });
        sent.push(a);
        const { event_detail, ...rest } = a;
        publisher.publishSerialized([serializeAlertMessage(rest, JSON.stringify(event_detail))]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const [stays] = viewers as [Viewer, ...Viewer[]];
    await until(() => stays.alerts().length >= 50, 10_000, 'traffic before the failover');
    const firstEpoch = parsePosition(stays.alerts()[0]!.position).epoch;
    await group.primary.kill();
    const inNewEpoch = (v: Viewer) =>
      v.alerts().filter((a) => parsePosition(a.position).epoch !== firstEpoch).length;
    await until(() => inNewEpoch(stays) >= 100, 30_000, 'traffic through the promoted replica');
    sending = false;
    await traffic;
    expect(await publisher.drain(10_000)).toBe(true);
    const last = sent.at(-1)!.alert_id;
    await until(() => viewers.every((v) => v.alerts().some((a) => a.data.alert_id === last)));

    const summary: string[] = [];
    for (const v of viewers) {
      const wanted = sent.filter((a) => !v.name.includes('CRITICAL') || a.severity === 'CRITICAL');
      const got = v.alerts().map((a) => a.data.alert_id);
      // Never twice, never out of order.
      expect(new Set(got).size, `${v.name}: no repeats`).toBe(got.length);
      const order = new Map(wanted.map((a, i) => [a.alert_id, i]));
      const ranks = got.map((id) => order.get(id));
      expect(
        ranks.every((r) => r !== undefined),
        `${v.name}: only matching alerts`,
      ).toBe(true);
      expect(ranks, `${v.name}: in order`).toEqual([...(ranks as number[])].sort((a, b) => a - b));
      // Told of the reset; and a position from before it was never "replayed".
      expect(v.notices('stream_gap').length, `${v.name}: told`).toBeGreaterThanOrEqual(1);
      for (const r of v.resumes().filter((r) => r.since)) {
        if (parsePosition(r.since!).epoch === firstEpoch) expect(r.status).not.toBe('replayed');
      }
      const missing = wanted.filter((a) => !got.includes(a.alert_id));
      if (missing.length > 0 && v.connections.length > 1) {
        // Whoever reconnected and missed alerts was refused the resume, not left guessing.
        expect(v.notices('resume_unavailable').length, `${v.name}: refusal`).toBeGreaterThan(0);
      }
      summary.push(`${v.name}: ${got.length}/${wanted.length} alerts, ${missing.length} missing`);
    }
    // A browser that stayed connected misses at most what the old primary took but never
    // passed on: everything published after the first alert of the new epoch arrived.
    const firstNew = stays.alerts().find((a) => parsePosition(a.position).epoch !== firstEpoch)!;
    const from = sent.findIndex((a) => a.alert_id === firstNew.data.alert_id);
    const stayedIds = new Set(stays.alerts().map((a) => a.data.alert_id));
    expect(sent.slice(from).filter((a) => !stayedIds.has(a.alert_id))).toEqual([]);
    console.info(`Redis failover, ${sent.length} alerts: ${summary.join('; ')}`);
    for (const v of viewers) for (const b of v.connections) b.close();
  });
});
