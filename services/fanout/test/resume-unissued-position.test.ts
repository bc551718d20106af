// A `since` of this stream's epoch whose offset is beyond anything the node will read (a crafted
// one, or one from a stream that went on elsewhere) must not keep its socket waiting for ever:
// within an epoch a later offset never has an earlier time, so the node refuses a position whose
// time is behind entries it has read with lower offsets, and serves one whose time is still
// ahead from PostgreSQL after its bounded waits, then goes live.
import { parsePosition } from '@tripwire/bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  passMarker,
  publishAlerts,
  type RunningFanout,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let fanout: RunningFanout;
let viewer: string;
let watcher: Browser;

beforeAll(async () => {
  fanout = await startFanout(env, {
    WS_RESUME_CATCH_UP_MS: '300',
    WS_BACKFILL_OVERLAP_MS: '300',
    BUS_READ_BLOCK_MS: '200',
  });
  viewer = await auth.issue('rita', 'viewer');
  watcher = new Browser(fanout.wsUrl, { token: viewer });
  await until(() => watcher.ofType('welcome').length === 1);
});
afterAll(async () => {
  watcher?.close();
  await fanout?.stop();
});

/** A position of the stream's epoch with a huge offset, at the given time. */
async function unissued(msFromHead: (ms: bigint) => bigint) {
  const marker = await passMarker(env, watcher);
  const head = parsePosition(watcher.alerts().find((a) => a.data.alert_id === marker)!.position);
  return `${head.epoch}:${msFromHead(head.ms)}-${head.offset + 1_000_000_000n}`;
}

const welcomeOf = async (since: string) => {
  const b = new Browser(fanout.wsUrl, { token: viewer, query: { since } });
  await until(() => b.ofType('welcome').length === 1, 10_000, 'the welcome');
  return b;
};

describe('a position this stream never issued', () => {
  it('is refused at once when its time is behind what the node has read', async () => {
    const since = await unissued((ms) => ms - 1n);
    const b = await welcomeOf(since);
    expect(b.ofType('welcome')[0]!.resume).toEqual({
      since,
      status: 'unavailable',
      reason: expect.stringMatching(/never issued by this stream/),
      oldest_position: expect.any(String),
    });
    expect(b.ofType('error')[0]).toMatchObject({ code: 'resume_unavailable' });
    b.close();
  });

  it('is refused once the node reads past its time while waiting for it', async () => {
    const since = await unissued((ms) => ms);
    const b = new Browser(fanout.wsUrl, { token: viewer, query: { since } });
    // Traffic while the resume waits: entries after the position's time, with lower offsets.
    await until(
      () => {
        publishAlerts(env, [alertData()]);
        return b.ofType('welcome').length === 1;
      },
      10_000,
      'the welcome',
    );
    expect(b.ofType('welcome')[0]!.resume).toMatchObject({
      status: 'unavailable',
      reason: expect.stringMatching(/never issued by this stream/),
    });
    b.close();
  });

  it('is served from PostgreSQL and goes live when its time is ahead of the stream', async () => {
    const since = await unissued((ms) => ms + 86_400_000n);
    const b = await welcomeOf(since);
    expect(b.ofType('welcome')[0]!.resume).toEqual({
      since,
      status: 'replayed',
      source: 'database',
    });
    // Live: an alert published from some point on reaches it (after the backfill the node waits
    // for the position at most the longer of WS_RESUME_CATCH_UP_MS and WS_BACKFILL_OVERLAP_MS,
    // skipping what the browser claims to have had).
    const published: string[] = [];
    await until(
      () => {
        const alert = alertData();
        published.push(alert.alert_id);
        publishAlerts(env, [alert]);
        return b.alerts().length > 0;
      },
      10_000,
      'a live alert',
    );
    const marker = await passMarker(env, b);
    const got = b.alertIds();
    expect(got.at(-1)).toBe(marker);
    expect(got.slice(0, -1).every((id) => published.includes(id))).toBe(true);
    expect(new Set(got).size).toBe(got.length);
    expect(b.ofType('error')).toEqual([]);
    b.close();
  });
});
