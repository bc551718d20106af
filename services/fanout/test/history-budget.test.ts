// HISTORY_MAX_BYTES as an operator and a browser see it: big frames push the oldest out of the
// resume window long before HISTORY_MAX_ENTRIES, the gauge stays within the budget, and a
// resume from a position still inside the window is replayed exactly.
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
const BUDGET = 64 * 1024;
let fanout: RunningFanout;
let viewer: string;

beforeAll(async () => {
  fanout = await startFanout(env, { HISTORY_MAX_BYTES: String(BUDGET) });
  viewer = await auth.issue('hilde', 'viewer');
});
afterAll(async () => {
  await fanout?.stop();
});

const gauge = async (name: string) => {
  const text = await (await fetch(fanout.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
};

describe('HISTORY_MAX_BYTES', () => {
  it('holds the resume window to its bytes with big frames, and still replays what it holds', async () => {
    const live = new Browser(fanout.wsUrl, { token: viewer });
    await live.opened;
    await until(() => live.ofType('welcome').length === 1);
    // ~20 KiB frames: three fit in 64 KiB, ten are sent (the count limit is 50,000).
    const sent = Array.from({ length: 10 }, (_, i) =>
      alertData({ event_detail: { n: i, blob: 'x'.repeat(20 * 1024) } }),
    );
    publishAlerts(env, sent);
    await until(() => live.alerts().length === 10, 10_000, 'ten alerts live');
    const held = await gauge('tripwire_fanout_history_bytes');
    expect(held).toBeGreaterThan(2 * 20 * 1024);
    expect(held).toBeLessThanOrEqual(BUDGET);

    // Resuming after the 8th: the 9th and 10th are in the window and come back in order.
    const since = live.alerts()[7]!.position;
    live.close();
    const resumed = new Browser(fanout.wsUrl, { token: viewer, query: { since } });
    await resumed.opened;
    await until(() => resumed.alerts().length === 2, 10_000, 'the replay');
    expect(resumed.alertIds()).toEqual(sent.slice(8).map((a) => a.alert_id));
    resumed.close();
  });
});
