import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLOSE_SLOW_CONSUMER,
  NATIVE_BACKPRESSURE_FACTOR,
  SLOW_CONSUMER_SWEEP_MS,
} from '../src/limits.js';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
/** The slow-consumer limit (WS_MAX_BACKPRESSURE_BYTES) here, and the size of each alert's detail. */
const LIMIT = 256 * 1024;
const ALERT_BYTES = 8000;
let viewer: string;
beforeAll(async () => {
  viewer = await auth.issue('otto', 'viewer');
});

const metricValue = async (url: string, line: RegExp) => {
  const text = await (await fetch(url)).text();
  return Number(line.exec(text)?.[1] ?? Number.NaN);
};

describe('slow consumers', () => {
  it('cuts off a browser that stops reading, with its own close code, while a fast one gets everything', async () => {
    const fanout = await startFanout(env, { WS_MAX_BACKPRESSURE_BYTES: String(LIMIT) });
    try {
      const slow = new Browser(fanout.wsUrl, { token: viewer });
      const fast = new Browser(fanout.wsUrl, { token: viewer });
      await Promise.all([slow.opened, fast.opened]);
      await until(() => slow.ofType('welcome').length === 1 && fast.ofType('welcome').length === 1);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      // Paced, so that what reaches the stalled socket between two sweeps stays far below the
      // gap between the sweep's limit and the native one: the sweep must be the one to act
      // (4008, counted), on any machine, at any load. Each step publishes an eighth of that gap,
      // waits until the fast browser has it (the fan-out has written it to every socket), then
      // one sweep period. The kernel's socket buffers fill first, then the server's.
      const gapBytes = (NATIVE_BACKPRESSURE_FACTOR - 1) * LIMIT;
      const perStep = Math.max(1, Math.floor(gapBytes / 8 / ALERT_BYTES));
      const alerts: ReturnType<typeof alertData>[] = [];
      const slowCloses = () =>
        metricValue(fanout.metricsUrl, /^tripwire_fanout_slow_consumer_closes_total (\d+)/m);
      const connections = () =>
        metricValue(fanout.metricsUrl, /^tripwire_fanout_connections (\d+)/m);
      // Until the slow socket is closed, by the sweep (counted) or, wrongly, by uWebSockets.js.
      while ((await connections()) === 2) {
        // Far beyond any socket buffer: the slow browser was never cut off.
        expect(alerts.length * ALERT_BYTES).toBeLessThan(64 * 1024 * 1024);
        const step = Array.from({ length: perStep }, (_, i) =>
          alertData({ event_detail: { blob: 'x'.repeat(ALERT_BYTES), i: alerts.length + i } }),
        );
        alerts.push(...step);
        publishAlerts(env, step);
        await until(() => fast.alerts().length === alerts.length, 10_000, 'the fast browser');
        // Paces the storm (no event marks a sweep): each step gives the sweep one period to see
        // the backlog. What the test asserts is waited on as a condition: the close, by whom.
        await new Promise((r) => setTimeout(r, SLOW_CONSUMER_SWEEP_MS));
      }
      expect(await slowCloses(), 'closed by the sweep, not by the native limit').toBe(1);
      // The browser reads again: it gets what was buffered for it, then the close frame with its code.
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await slow.closed).code).toBe(CLOSE_SLOW_CONSUMER);
      expect(fast.alertIds()).toEqual(alerts.map((a) => a.alert_id));
      expect(fast.ws.readyState).toBe(fast.ws.OPEN);
      // What was buffered for it before the cut arrived intact, in order.
      expect(slow.alertIds()).toEqual(alerts.slice(0, slow.alerts().length).map((a) => a.alert_id));
      // Everyone else carries on: the connected browser and a new one both get what follows.
      const newcomer = new Browser(fanout.wsUrl, { token: viewer });
      await newcomer.opened;
      await until(() => newcomer.ofType('welcome').length === 1);
      const after = alertData();
      publishAlerts(env, [after]);
      await until(
        () =>
          fast.alertIds().includes(after.alert_id) && newcomer.alertIds().includes(after.alert_id),
        10_000,
        'delivery after the cut',
      );
      newcomer.close();
      expect(await slowCloses()).toBe(1);
      fast.close();
    } finally {
      await fanout.stop();
    }
  });
});
